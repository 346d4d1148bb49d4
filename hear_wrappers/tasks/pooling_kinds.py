"""Two scene kinds for choosing how to pool frames into a clip embedding: ``sparse_event`` and ``note_order``.

A mean of frames keeps what a clip sounds like on average. These kinds are built so that the average
is not enough, each in its own way:

* ``sparse_event``: the class sound (a ``tone``, ``chirp`` or ``clicks``, as in ``synth_onsets``)
  fills only 5-25% of a long clip (30 s) in 1-3 occurrences, over a background that has nothing to do
  with the class: coloured noise of a random colour plus a few noise bursts. Averaged over the clip,
  the class sound is a small change to a background that varies far more from clip to clip; a
  statistic that looks at the loudest frames (max, ``topk10``, ``q90``) sees it whole.
* ``note_order``: three notes (low, mid, high; one timbre per clip) played one after the other; the
  class is their order (``low-mid-high``, ``high-low-mid``, ... : 6 classes), a melodic contour. Every
  random choice (pitches, durations, timbre, noise, level) is drawn the same whatever the class, and
  the durations belong to the notes, not to the positions, so every class has the same frame
  statistics: the order is the only difference. Order-free statistics (mean, max, std, quantiles)
  stay at chance by construction; a temporal pyramid can see it.

Both are deterministic from the seed (`clip_rng`), synthesised at any HEAR rate like every kind, and
checked by ``tests/test_tasks.py`` (the fraction the target fills; the same notes in every order).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from hear_wrappers.tasks.generators import (
    _grid,
    _level,
    _loguniform,
    _onset_event,
    _partial_amplitudes,
    _seed,
)
from hear_wrappers.tasks.spec import Clip, TaskSize, TaskSpec, clip_rng, register_task
from hear_wrappers.tasks.synth import (
    REFERENCE_RATE,
    ClickTrain,
    Envelope,
    HarmonicTone,
    Noise,
    Sound,
    midi_to_hz,
    rms,
)

__all__ = ["NOTE_ORDER", "SPARSE_EVENT", "note_order_labels", "target_spans"]

# ---------------------------------------------------------------------------------------------------------
# sparse_event: a short class sound in a long clip

SPARSE_LABELS = ["chirp", "clicks", "tone"]
#: No target in the first and last 100 ms, and at least 150 ms between two occurrences.
EDGE_S = 0.1
SPACING_S = 0.15
#: The shortest occurrence of the target, in s.
MIN_OCCURRENCE_S = 0.3


def _occurrences(
    rng: np.random.Generator, seconds: float, total: float, most: int
) -> list[tuple[float, float]]:
    """``(start_s, length_s)`` of 1 to ``most`` non-overlapping occurrences, lengths summing to ``total``."""
    count = int(rng.integers(1, most + 1))
    count = max(1, min(count, math.floor(total / MIN_OCCURRENCE_S)))
    lengths = MIN_OCCURRENCE_S + (total - count * MIN_OCCURRENCE_S) * rng.dirichlet(np.ones(count))
    free = seconds - 2 * EDGE_S - total - SPACING_S * (count - 1)
    if free < 0:
        raise ValueError(f"{total:.2f} s of target in {count} parts do not fit a {seconds} s clip.")
    gaps = rng.dirichlet(np.ones(count + 1)) * free
    spans, position = [], EDGE_S
    for length, gap in zip(lengths, gaps[:-1], strict=True):
        position += gap
        spans.append((float(position), float(length)))
        position += length + SPACING_S
    return spans


def _target(rng: np.random.Generator, label: str, start: float, length: float):
    """One occurrence of a class sound, sounding over exactly ``[start, start + length)``."""
    event = _onset_event(rng, label, start, length)
    if isinstance(event, ClickTrain):  # its last click dies away exactly at the end of the span
        last = start + length - ClickTrain.LENGTH_IN_DECAYS * event.decay_s
        event = replace(event, click_times_s=(*event.click_times_s[:-1], last))
    return event


def target_spans(sound: Sound) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of each class-sound occurrence of a ``sparse_event`` clip, sorted.

    The class sounds are the clip's components that are not noise.
    """
    spans = []
    for component in sound.components:
        if isinstance(component, ClickTrain):
            spans.append((component.click_times_s[0], component.end_s))
        elif not isinstance(component, Noise):
            spans.append((component.envelope.onset_s, component.envelope.end_s))
    return sorted(spans)


def _background(rng: np.random.Generator, seconds: float, size: TaskSize) -> tuple[list, float]:
    """Coloured noise of a random colour and level, plus 0-3 noise bursts: nothing tells the class."""
    noise_rms = _loguniform(rng, 0.003, 0.01)
    steady = Noise(
        _seed(rng), seconds, rms=noise_rms, exponent=rng.uniform(0, 2), lowcut_hz=_loguniform(rng, 20, 200)
    )
    parts = [steady]
    low, high = size.options["distractors"]
    for _ in range(int(rng.integers(low, high + 1))):
        length = rng.uniform(0.02, 0.08) * seconds
        onset = rng.uniform(0, seconds - length)
        level = noise_rms * 10 ** (rng.uniform(*size.options["snr_db"]) / 20)
        envelope = Envelope(onset, 0.05, length - 0.05, 0.05)
        colour = rng.uniform(0, 2)
        parts.append(Noise(_seed(rng), seconds, level, colour, lowcut_hz=200.0, envelope=envelope))
    return parts, noise_rms


def _sparse_clip(seed: int, name: str, label: str, size: TaskSize) -> Sound:
    seconds = size.clip_seconds
    # The background comes from its own stream, drawn from the clip's name only: never from its class.
    background, noise_rms = _background(clip_rng(seed, "sparse_event", f"{name}/background"), seconds, size)
    rng = clip_rng(seed, "sparse_event", name)
    fill = rng.uniform(*size.options["fill"])
    targets = []
    for start, length in _occurrences(rng, seconds, fill * seconds, int(size.options["occurrences"])):
        event = _target(rng, label, start, length)
        snr = 10 ** (rng.uniform(*size.options["snr_db"]) / 20)  # while it sounds, over the steady noise
        targets.append(replace(event, gain=snr * noise_rms / _level(event, start, start + length, seconds)))
    return Sound((*background, *targets), seconds).limited()


def _generate_sparse(size: TaskSize, seed: int) -> list[Clip]:
    clips = []
    for split, per_class in size.clips.items():
        for index in range(per_class * len(SPARSE_LABELS)):
            name = f"{split}-{index:04d}"
            label = SPARSE_LABELS[index % len(SPARSE_LABELS)]
            clips.append(Clip(f"{name}.wav", split, [label], _sparse_clip(seed, name, label, size)))
    return clips


SPARSE_EVENT = register_task(
    TaskSpec(
        name="sparse_event",
        description="a tone, chirp or click train filling 5-25% of a 30 s clip over a class-free background",
        embedding_type="scene",
        prediction_type="multiclass",
        split_mode="trainvaltest",
        evaluation=("top1_acc",),
        vocabulary=lambda size: list(SPARSE_LABELS),
        generate=_generate_sparse,
        sizes={
            # fill: (low, high) share of the clip the class sound fills, drawn per clip; occurrences: at
            # most this many (each >= 0.3 s); snr_db: the class sound's RMS while it sounds (and the
            # bursts') over the steady noise's RMS below 8 kHz; distractors: (fewest, most) noise bursts
            "tiny": TaskSize(
                30.0,
                {"train": 2, "valid": 1, "test": 1},
                {"fill": (0.05, 0.25), "occurrences": 3, "snr_db": (0.0, 12.0), "distractors": (0, 3)},
            ),
            "demo": TaskSize(
                30.0,
                {"train": 16, "valid": 4, "test": 8},
                {"fill": (0.05, 0.25), "occurrences": 3, "snr_db": (0.0, 12.0), "distractors": (0, 3)},
            ),
        },
        leaderboard_analogue="FSD50K",
        param_grid=_grid(max_epochs=150, patience=6),
        # 5% of 6 s is the shortest occurrence (0.3 s), and 25% plus the edges and spacing still fit.
        min_clip_seconds=6.0,
    )
)


# ---------------------------------------------------------------------------------------------------------
# note_order: the class is the order of three notes

NOTE_NAMES = {2: ("low", "high"), 3: ("low", "mid", "high")}


def note_order_labels(size: TaskSize) -> list[str]:
    """The classes of ``note_order``: every order of the notes, e.g. ``low-mid-high``, ``high-low-mid``."""
    notes = size.options["notes"]
    if notes not in NOTE_NAMES:
        raise ValueError(f"note_order plays 2 or 3 notes (options['notes']), got {notes!r}.")
    return ["-".join(order) for order in itertools.permutations(NOTE_NAMES[notes])]


def _melody(rng: np.random.Generator, order: tuple[int, ...], size: TaskSize) -> Sound:
    """Notes ``0 .. n-1`` (rising pitch) played in ``order``: the only thing ``order`` changes."""
    count, seconds = len(order), size.clip_seconds
    low, high = size.options["steps"]
    steps = rng.integers(low, high + 1, count - 1)
    pitches = rng.uniform(*size.options["lowest_pitch"]) + np.concatenate([[0], np.cumsum(steps)])
    melody = rng.uniform(*size.options["melody"]) * seconds
    gaps = rng.uniform(0.0, 0.1, count - 1)
    # Each note gets at least 15% of the melody; durations belong to the notes, not to the positions.
    durations = (melody - gaps.sum()) * (0.15 + (1 - 0.15 * count) * rng.dirichlet(4 * np.ones(count)))
    start = rng.uniform(0, seconds - durations.sum() - gaps.sum())
    timbre_seed = _seed(rng)  # one instrument for every note of a clip
    attack, release = rng.uniform(0.01, 0.05), rng.uniform(0.03, 0.08)
    decay = rng.uniform(0.5, 3.0) if rng.random() < 0.5 else math.inf
    phases = rng.uniform(0, 2 * np.pi, (count, 60))
    notes = []
    for position, note in enumerate(order):
        f0 = midi_to_hz(pitches[note])
        amplitudes = _partial_amplitudes(np.random.default_rng(timbre_seed), f0)
        held = durations[note] - release
        envelope = Envelope(start, min(attack, held), held, release, decay)
        partials = len(amplitudes)
        notes.append(
            HarmonicTone(f0, tuple(amplitudes.tolist()), tuple(phases[note, :partials].tolist()), envelope)
        )
        start += durations[note] + (gaps[position] if position < count - 1 else 0.0)
    # Over the whole clip: the same for every order (the notes do not overlap).
    notes_sum = Sound(tuple(notes), seconds).mix(REFERENCE_RATE)
    melody_rms = rms(notes_sum)
    snr = 10 ** (rng.uniform(10, 30) / 20)
    noise = Noise(_seed(rng), seconds, rms=melody_rms / snr, exponent=rng.uniform(0, 2), lowcut_hz=40.0)
    sound = Sound((*notes, noise), seconds, gain=_loguniform(rng, 0.05, 0.2) / melody_rms)
    return sound.limited(component_sum=notes_sum + noise.render(REFERENCE_RATE, len(notes_sum)))


def _generate_note_order(size: TaskSize, seed: int) -> list[Clip]:
    labels = note_order_labels(size)
    names = NOTE_NAMES[size.options["notes"]]
    clips = []
    for split, per_class in size.clips.items():
        for index in range(per_class * len(labels)):
            name = f"{split}-{index:04d}"
            label = labels[index % len(labels)]
            order = tuple(names.index(note) for note in label.split("-"))
            sound = _melody(clip_rng(seed, "note_order", name), order, size)
            clips.append(Clip(f"{name}.wav", split, [label], sound))
    return clips


_NOTE_OPTIONS = {"notes": 3, "lowest_pitch": (55.0, 62.0), "steps": (4, 8), "melody": (0.6, 0.9)}

NOTE_ORDER = register_task(
    TaskSpec(
        name="note_order",
        description="three notes of one timbre; the class is their order (6 melodic contours, same frames)",
        embedding_type="scene",
        prediction_type="multiclass",
        split_mode="trainvaltest",
        evaluation=("top1_acc",),
        vocabulary=note_order_labels,
        generate=_generate_note_order,
        sizes={
            # notes: 3 (6 orders) or 2 (low-high, high-low: rising or falling); lowest_pitch: range of
            # the low note (MIDI, fractional), drawn per clip; steps: (smallest, largest) interval in
            # semitones from one note to the next higher; melody: (shortest, longest) share of the
            # clip the notes take together
            "tiny": TaskSize(5.0, {"train": 2, "valid": 1, "test": 1}, _NOTE_OPTIONS),
            "demo": TaskSize(10.0, {"train": 12, "valid": 3, "test": 5}, _NOTE_OPTIONS),
        },
        leaderboard_analogue="Speech commands 5h",
        param_grid=_grid(max_epochs=150, patience=6),
        min_clip_seconds=2.0,  # every note >= 0.12 s, longer than its attack and release
    )
)
