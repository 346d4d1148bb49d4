"""Small HEAR tasks generated from synthetic audio, in the official on-disk layout.

For tests and demos of the HEAR pipeline (``heareval`` embeddings, then predictions) without
downloading a corpus: each kind imitates one HEAR task, is deterministic from a seed, and is written
at any of HEAR's sample rates (16000, 22050, 32000, 44100, 48000 Hz), each synthesised from the same
parameters::

    from hear_wrappers.tasks import build_task, build_tasks

    folder = build_task("synth_pitch", "tasks/", sample_rates=(16000, 48000), seed=0, size="tiny")
    folders = build_tasks("tasks/", size="demo")  # every kind

or ``python -m hear_wrappers.tasks tasks/ --size demo --sample-rate 48000``. Then::

    python -m hear_wrappers.heareval embeddings hear_wrappers.encodec --tasks-dir tasks/
    python -m hear_wrappers.heareval predictions embeddings/hear_wrappers.encodec/*

=============== =============================== ======================= ==========================
kind            what                            HEAR layout             imitates (leaderboard)
=============== =============================== ======================= ==========================
synth_pitch     notes of random timbre; label   scene, multiclass,      NSynth Pitch 5h
                = MIDI pitch                    train/valid/test
sound_vs_noise  a sound in noise, or noise      scene, multiclass,      GTZAN Music/Speech
                alone                           k-fold
synth_onsets    tones, chirps, click trains     event, multilabel,      DCASE 2016
                at random times in noise        train/valid/test
sparse_event    a tone, chirp or click train    scene, multiclass,      FSD50K
                filling 5-25% of a 30 s clip    train/valid/test
note_order      three notes; label = their      scene, multiclass,      Speech commands 5h
                order (same frames per class)   train/valid/test
pitch_timbre    one note; label = its (pitch,   scene, multiclass,      Mridangam Stroke
                timbre) pair, 3 x 3 classes     train/valid/test
=============== =============================== ======================= ==========================

``sparse_event`` and ``note_order`` are for choosing a clip pooling (`hear_wrappers.tasks.pooling_kinds`):
the mean of the frames misses a short sound in a long clip, and no order-free statistic can tell the
orders apart. ``pitch_timbre`` (`hear_wrappers.tasks.pitch_timbre`) needs both pitch and timbre: the
test of a combination against its members (docs/combined.md).

Each task's ``task_metadata.json`` carries a ``task_specific_param_grid`` sized for it (heareval's
stock grids underfit tasks this small) and a ``hear_wrappers`` block: generator, seed, size and the
leaderboard column it imitates. Add kinds with `register_task`. See docs/tasks.md.
"""

from __future__ import annotations

from hear_wrappers.tasks import generators as _generators  # noqa: F401  (registers the built-in kinds)
from hear_wrappers.tasks import pitch_timbre as _pitch_timbre  # noqa: F401  (pitch_timbre)
from hear_wrappers.tasks import pooling_kinds as _pooling_kinds  # noqa: F401  (sparse_event, note_order)
from hear_wrappers.tasks.builder import build_task, build_tasks, resolve_size, task_folder_name
from hear_wrappers.tasks.spec import TASKS, Clip, TaskSize, TaskSpec, clip_rng, fold_names, register_task
from hear_wrappers.tasks.synth import HEAR_SAMPLE_RATES

__all__ = [
    "HEAR_SAMPLE_RATES",
    "TASKS",
    "Clip",
    "TaskSize",
    "TaskSpec",
    "build_task",
    "build_tasks",
    "clip_rng",
    "fold_names",
    "register_task",
    "resolve_size",
    "task_folder_name",
]
