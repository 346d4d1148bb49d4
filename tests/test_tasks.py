"""hear_wrappers.tasks: generated HEAR tasks in the official layout, checked file by file."""

import csv
import hashlib
import importlib.resources
import itertools
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import installed

import hear_wrappers.tasks.pitch_timbre  # noqa: F401  (registers pitch_timbre)
from hear_wrappers.tasks import (
    HEAR_SAMPLE_RATES,
    TASKS,
    Clip,
    TaskSize,
    TaskSpec,
    build_task,
    build_tasks,
    register_task,
    resolve_size,
)
from hear_wrappers.tasks.builder import scene_batch_size
from hear_wrappers.tasks.synth import Envelope, HarmonicTone, Sound, midi_to_hz

KINDS = ["synth_pitch", "sound_vs_noise", "synth_onsets", "sparse_event", "note_order", "pitch_timbre"]
#: Overrides for the tests that build a kind several times: the long-clip kinds smaller.
FEW_CLIPS = {
    "sparse_event": {"clips": 1, "clip_seconds": 8.0},
    "note_order": {"clips": 1, "clip_seconds": 3.0},
}
#: Metric names heareval 2021.1.3 knows (heareval.score.available_scores).
HEAREVAL_METRICS = {
    "top1_acc",
    "pitch_acc",
    "chroma_acc",
    "event_onset_200ms_fms",
    "event_onset_50ms_fms",
    "event_onset_offset_50ms_20perc_fms",
    "segment_1s_er",
    "mAP",
    "d_prime",
    "aucroc",
}
#: The numeric keys of heareval's PARAM_GRID (the others hold classes, which JSON cannot).
GRID_KEYS = {
    "hidden_layers",
    "hidden_dim",
    "dropout",
    "lr",
    "patience",
    "max_epochs",
    "check_val_every_n_epoch",
    "batch_size",
    "norm_after_activation",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Every kind at its tiny size, 16 kHz, seed 0."""
    out = tmp_path_factory.mktemp("tasks")
    return {kind: build_task(kind, out, size="tiny") for kind in KINDS}


def read_json(path: Path):
    return json.loads(path.read_text())


def vocabulary(folder: Path) -> list[tuple[int, str]]:
    with (folder / "labelvocabulary.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["idx", "label"]
    return [(int(idx), label) for idx, label in rows[1:]]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def labels_of(value) -> list[str]:
    return [item["label"] if isinstance(item, dict) else item for item in value]


@pytest.mark.parametrize("kind", KINDS)
def test_layout_and_metadata(tiny, kind):
    folder = tiny[kind]
    spec = TASKS[kind]
    assert folder.name == f"{kind}-{spec.version}-tiny"
    metadata = read_json(folder / "task_metadata.json")
    assert metadata["task_name"] == kind
    assert metadata["embedding_type"] == spec.embedding_type in ("scene", "event")
    assert metadata["prediction_type"] == spec.prediction_type in ("multiclass", "multilabel")
    assert metadata["split_mode"] in ("trainvaltest", "new_split_kfold")
    assert metadata["evaluation"] and set(metadata["evaluation"]) <= HEAREVAL_METRICS
    assert metadata["sample_duration"] == spec.sizes["tiny"].clip_seconds
    if metadata["split_mode"] == "trainvaltest":
        assert metadata["splits"] == ["train", "valid", "test"]
    grid = metadata["evaluation_params"]["task_specific_param_grid"]
    assert set(grid) <= GRID_KEYS and all(isinstance(v, list) and v for v in grid.values())
    assert ("batch_size" in grid) == (spec.embedding_type == "scene")  # events: heareval's 1024 frames
    assert grid["lr"] != [1e-4] and grid["max_epochs"][0] > 10  # not the stock "faster" grid
    assert metadata["hear_wrappers"]["generator"] == kind
    assert metadata["hear_wrappers"]["seed"] == 0 and metadata["hear_wrappers"]["size"] == "tiny"
    assert metadata["hear_wrappers"]["leaderboard_analogue"] == spec.leaderboard_analogue

    entries = {path.name for path in folder.iterdir()}
    assert entries == {"task_metadata.json", "labelvocabulary.csv", "16000"} | {
        f"{split}.json" for split in metadata["splits"]
    }
    vocab = vocabulary(folder)
    assert [idx for idx, _ in vocab] == list(range(len(vocab)))  # heareval: nlabels == max idx + 1
    known = {label for _, label in vocab}
    seen = set()
    for split in metadata["splits"]:
        split_labels = read_json(folder / f"{split}.json")
        wavs = sorted(path.name for path in (folder / "16000" / split).iterdir())
        assert wavs == sorted(split_labels) and len(wavs) >= 2
        for labels in split_labels.values():
            assert set(labels_of(labels)) <= known
            seen.update(labels_of(labels))
            if metadata["prediction_type"] == "multiclass":
                assert len(labels) == 1
    assert seen == known  # every class occurs


def test_leaderboard_analogues_are_leaderboard_columns():
    csv_file = importlib.resources.files("hear_wrappers").joinpath("data/hear-leaderboard.csv")
    if not csv_file.is_file():
        pytest.skip("hear_wrappers/data/hear-leaderboard.csv is not there yet")
    header = next(csv.reader(csv_file.read_text().splitlines()))
    assert {spec.leaderboard_analogue for spec in TASKS.values()} <= set(header)
    assert {TASKS[k].leaderboard_analogue for k in KINDS} == {
        "NSynth Pitch 5h",
        "GTZAN Music/Speech",
        "DCASE 2016",
        "FSD50K",
        "Speech commands 5h",
        "Mridangam Stroke",
    }


@pytest.mark.parametrize("kind", ["sound_vs_noise", "synth_onsets"])
def test_every_rate_is_written_mono_at_its_rate_and_length(tmp_path, kind):
    folder = build_task(kind, tmp_path, sample_rates=HEAR_SAMPLE_RATES[::-1], size="tiny", clips=2)
    metadata = read_json(folder / "task_metadata.json")
    seconds = metadata["sample_duration"]
    for rate in HEAR_SAMPLE_RATES:
        for split in metadata["splits"]:
            names = sorted(read_json(folder / f"{split}.json"))
            assert sorted(p.name for p in (folder / str(rate) / split).iterdir()) == names
            for name in names:
                info = sf.info(folder / str(rate) / split / name)
                assert (info.samplerate, info.channels, info.subtype) == (rate, 1, "PCM_16")
                assert info.frames == round(seconds * rate)
                audio, read_rate = sf.read(folder / str(rate) / split / name, dtype="float32")
                assert read_rate == rate and audio.ndim == 1  # what heareval's runner reads and asserts
                assert np.sqrt(np.mean(audio**2)) > 1e-3 and np.abs(audio).max() < 0.9  # no clipping


@pytest.mark.parametrize("kind", KINDS)
def test_rates_hold_the_same_sound_below_7khz(tmp_path, kind):
    """Each rate is synthesised from the same parameters: spectra agree wherever both rates reach."""
    clips = 2 if kind == "synth_onsets" else 1
    folder = build_task(kind, tmp_path, sample_rates=(16000, 22050, 48000), size="tiny", clips=clips)
    split = read_json(folder / "task_metadata.json")["splits"][0]
    for name in read_json(folder / f"{split}.json"):
        low, _ = sf.read(folder / "16000" / split / name)
        spectrum_low = np.fft.rfft(low) / len(low)
        bins = round(7000 * len(low) / 16000)
        for rate in (22050, 48000):
            high, _ = sf.read(folder / str(rate) / split / name)
            spectrum_high = np.fft.rfft(high) / len(high)
            difference = np.linalg.norm(spectrum_high[:bins] - spectrum_low[:bins])
            assert difference < 0.01 * np.linalg.norm(spectrum_low[:bins]), (name, rate)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_bytes_and_another_seed_other_audio(tmp_path, kind):
    few = FEW_CLIPS.get(kind, {})
    first = build_task(kind, tmp_path / "a", size="tiny", seed=3, **few)
    again = build_task(kind, tmp_path / "b", size="tiny", seed=3, **few)
    other = build_task(kind, tmp_path / "c", size="tiny", seed=4, **few)
    digest = tree_digest(first)
    assert digest == tree_digest(again)
    other_digest = tree_digest(other)
    assert other_digest.keys() == digest.keys()
    wavs = [path for path in digest if path.endswith(".wav")]
    assert all(digest[path] != other_digest[path] for path in wavs)
    # Adding a rate changes no other file but the metadata; rebuilding replaces the folder in place.
    both = build_task(kind, tmp_path / "a", size="tiny", seed=3, sample_rates=(48000, 16000), **few)
    assert both == first
    both_digest = tree_digest(both)
    assert all(both_digest[path] == h for path, h in digest.items() if path != "task_metadata.json")
    assert read_json(both / "task_metadata.json")["hear_wrappers"]["sample_rates"] == [16000, 48000]
    assert {path.split("/")[0] for path in both_digest if path.endswith(".wav")} == {"16000", "48000"}


def test_event_labels_are_in_ms_within_the_clip_and_on_the_sound(tiny):
    folder = tiny["synth_onsets"]
    seconds = read_json(folder / "task_metadata.json")["sample_duration"]
    count = 0
    for split in ("train", "valid", "test"):
        for name, events in read_json(folder / f"{split}.json").items():
            assert events
            audio, rate = sf.read(folder / "16000" / split / name)
            inside = np.zeros(len(audio), dtype=bool)
            for event in events:
                assert set(event) == {"label", "start", "end"}
                assert 0 <= event["start"] < event["end"] <= 1000 * seconds
                assert event["end"] - event["start"] >= 250  # ms: events last 0.3-0.8 s
                inside[round(event["start"] * rate / 1000) : round(event["end"] * rate / 1000)] = True
                count += 1
            ordered = sorted(events, key=lambda e: e["start"])
            assert all(a["end"] < b["start"] for a, b in itertools.pairwise(ordered))
            # Events are louder than the background they sit in (5-20 dB over the noise).
            assert np.mean(audio[inside] ** 2) > 2 * np.mean(audio[~inside] ** 2)
    assert count >= 8


def test_kfold_has_three_or_more_disjoint_balanced_folds(tiny, tmp_path):
    folder = tiny["sound_vs_noise"]
    metadata = read_json(folder / "task_metadata.json")
    assert metadata["split_mode"] == "new_split_kfold"
    assert metadata["splits"] == ["fold00", "fold01", "fold02"] and metadata["nfolds"] == 3
    seen: set[str] = set()
    for fold in metadata["splits"]:
        names = set(read_json(folder / f"{fold}.json"))
        assert not names & seen
        seen |= names
        counts = {}
        for (label,) in read_json(folder / f"{fold}.json").values():
            counts[label] = counts.get(label, 0) + 1
        assert counts == {"noise": 4, "sound": 4}
    five = build_task("sound_vs_noise", tmp_path, size="tiny", folds=5, clips=1)
    assert five.name == "sound_vs_noise-v1.0-custom"
    assert read_json(five / "task_metadata.json")["splits"] == [f"fold0{i}" for i in range(5)]


def test_pitch_labels_are_midi_pitches_heard_in_the_audio(tiny):
    folder = tiny["synth_pitch"]
    vocab = vocabulary(folder)
    pitches = [int(label) for _, label in vocab]
    assert pitches == list(range(pitches[0], pitches[0] + len(pitches)))
    # heareval's chroma_acc takes label indices modulo 12: they must be the pitch classes.
    assert all(idx % 12 == pitch % 12 for (idx, _), pitch in zip(vocab, pitches, strict=True))
    for split in ("train", "valid", "test"):
        for name, (label,) in read_json(folder / f"{split}.json").items():
            audio, rate = sf.read(folder / "16000" / split / name)
            spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
            frequencies = np.fft.rfftfreq(len(audio), 1 / rate)

            def comb(pitch, spectrum=spectrum, frequencies=frequencies):
                f0 = midi_to_hz(pitch)
                return sum(
                    spectrum[(frequencies > k * f0 * 0.985) & (frequencies < k * f0 * 1.015)].max()
                    for k in range(1, 7)
                )

            candidates = range(int(label) - 2, int(label) + 3)
            assert max(candidates, key=comb) == int(label), name


def test_sparse_event_target_fills_5_to_25_percent_over_a_background_blind_to_the_class():
    from hear_wrappers.tasks.pooling_kinds import EDGE_S, MIN_OCCURRENCE_S, _sparse_clip, target_spans
    from hear_wrappers.tasks.synth import REFERENCE_RATE, Noise, Sound

    _, size = resolve_size("sparse_event", "demo", clips={"train": 5, "valid": 1, "test": 1})
    seconds = size.clip_seconds
    clips = [clip for clip in TASKS["sparse_event"].generate(size, 0) if clip.split == "train"]
    fractions, counts = [], set()
    for clip in clips:
        spans = target_spans(clip.sound)
        counts.add(len(spans))
        assert 1 <= len(spans) <= 3
        assert spans[0][0] >= EDGE_S and spans[-1][1] <= seconds - EDGE_S
        assert all(end - start >= MIN_OCCURRENCE_S - 1e-9 for start, end in spans)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # apart
        fraction = sum(end - start for start, end in spans) / seconds
        assert 0.05 <= fraction <= 0.25, (clip.name, fraction)
        fractions.append(fraction)
        # The class sound is all that differs from the background, and only inside its spans.
        background = [c for c in clip.sound.components if isinstance(c, Noise)]
        target = Sound(clip.sound.components, seconds).mix(REFERENCE_RATE)
        difference = target - Sound(tuple(background), seconds).mix(REFERENCE_RATE)
        inside = np.zeros(len(difference), dtype=bool)
        samples = [
            (math.ceil(start * REFERENCE_RATE), math.ceil(end * REFERENCE_RATE)) for start, end in spans
        ]
        for first, stop in samples:  # the samples whose times lie in [start, end)
            inside[first:stop] = True
        assert not difference[~inside].any()
        # While it sounds, it is 0-12 dB over the steady noise (measured below 8 kHz, rendered here
        # below 7.6 kHz: that noise is a little quieter, so the ratio only rises).
        steady = background[0].rms
        for first, stop in samples:
            part = difference[first:stop]
            ratio = np.sqrt(np.mean(part**2)) / steady
            assert 1.0 - 1e-6 <= ratio <= 10 ** (12 / 20) * 1.01, (clip.name, ratio)
    assert counts == {1, 2, 3}
    assert min(fractions) < 0.1 and max(fractions) > 0.2  # the fill is drawn over the whole range
    assert [clip.labels[0] for clip in clips[:3]] == ["chirp", "clicks", "tone"]
    # The background is drawn from the clip's name, never its class: any label, the same noises.
    for label in ("chirp", "tone"):
        other = _sparse_clip(0, "train-0002", label, size)
        noises = [c for c in other.components if isinstance(c, Noise)]
        assert noises == [c for c in clips[2].sound.components if isinstance(c, Noise)]


def test_note_order_classes_are_orders_of_the_same_notes():
    from hear_wrappers.tasks.pooling_kinds import _melody, note_order_labels
    from hear_wrappers.tasks.spec import clip_rng
    from hear_wrappers.tasks.synth import HarmonicTone

    tiny = TASKS["note_order"].sizes["tiny"]
    labels = note_order_labels(tiny)
    assert len(labels) == 6 and {"low-mid-high", "high-mid-low", "mid-low-high"} <= set(labels)
    two = TaskSize(4.0, tiny.clips, {**tiny.options, "notes": 2})
    assert note_order_labels(two) == ["low-high", "high-low"]
    with pytest.raises(ValueError, match="plays 2 or 3 notes"):
        note_order_labels(TaskSize(4.0, tiny.clips, {**tiny.options, "notes": 4}))

    # Every order of one clip's random draws: the same notes (pitch, length, timbre), noise and level.
    sounds = {
        order: _melody(clip_rng(0, "note_order", "train-0000"), order, tiny)
        for order in itertools.permutations(range(3))
    }
    reference = None
    for order, sound in sounds.items():
        notes = [c for c in sound.components if isinstance(c, HarmonicTone)]
        played = sorted(notes, key=lambda note: note.envelope.onset_s)
        pitches = sorted(note.f0_hz for note in notes)
        assert [pitches.index(note.f0_hz) for note in played] == list(order)  # the label's order
        assert all(a.envelope.end_s <= b.envelope.onset_s for a, b in itertools.pairwise(played))
        # Each note as it is, but for where it starts.
        signature = sorted(
            (replace(note, envelope=replace(note.envelope, onset_s=0.0)) for note in notes),
            key=lambda note: note.f0_hz,
        )
        (noise,) = [c for c in sound.components if not isinstance(c, HarmonicTone)]
        # The level is measured on the sampled melody: notes on other sample offsets move it by ~1e-7.
        levels = np.array([sound.gain, noise.rms])
        if reference is not None:
            assert signature == reference[0] and replace(noise, rms=0) == replace(reference[1], rms=0)
            np.testing.assert_allclose(levels, reference[2], rtol=1e-6)
        reference = (signature, noise, levels)
        span = (played[-1].envelope.end_s - played[0].envelope.onset_s) / tiny.clip_seconds
        assert 0.6 - 1e-9 <= span <= 0.9 + 1e-9

    # Same frame statistics, different order: whole-clip spectra agree, first halves do not.
    def log_spectra(sound):
        audio = sound.render(16000)
        frames = np.lib.stride_tricks.sliding_window_view(audio, 512)[::256] * np.hanning(512)
        return np.log(np.abs(np.fft.rfft(frames)) ** 2 + 1e-10)

    rising, falling = log_spectra(sounds[(0, 1, 2)]), log_spectra(sounds[(2, 1, 0)])
    half = len(rising) // 2
    whole = np.abs(rising.mean(0) - falling.mean(0)).mean()
    first_half = np.abs(rising[:half].mean(0) - falling[:half].mean(0)).mean()
    assert whole < 0.25 * first_half, (whole, first_half)

    # The built task: labels name the order its notes are played in.
    for clip in TASKS["note_order"].generate(tiny, 0):
        notes = sorted(
            (c for c in clip.sound.components if isinstance(c, HarmonicTone)),
            key=lambda n: n.envelope.onset_s,
        )
        ranks = [sorted(n.f0_hz for n in notes).index(n.f0_hz) for n in notes]
        assert "-".join(("low", "mid", "high")[r] for r in ranks) == clip.labels[0]


def harmonic_levels(audio: np.ndarray, rate: int, f0: float, count: int) -> np.ndarray:
    """Magnitude of partials 1..count of ``f0`` in a clip's spectrum (the peak within +-1.5%)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    frequencies = np.fft.rfftfreq(len(audio), 1 / rate)
    return np.array(
        [
            spectrum[(frequencies > k * f0 * 0.985) & (frequencies < k * f0 * 1.015)].max()
            for k in range(1, count + 1)
        ]
    )


def test_pitch_timbre_classes_are_pairs_heard_in_the_audio():
    """Every (pitch, timbre) pair is a class, the note at its pitch within ``detune``; in the audio
    (tiny: 20-40 dB SNR), a comb over the harmonics picks the pitch among those 2 semitones around,
    and the family shows: hollow's 2nd harmonic 20 dB or more below its neighbours' geometric mean
    (26-34 dB by construction) where the smooth families' stays within 10 dB of it, and mellow's
    harmonics 3-6 are weaker than every bright note's."""
    from hear_wrappers.tasks.pitch_timbre import pitch_timbre_labels

    spec = TASKS["pitch_timbre"]
    for preset in ("tiny", "hard"):
        size = spec.sizes[preset]
        labels = pitch_timbre_labels(size)
        pitches, timbres = size.options["pitches"], size.options["timbres"]
        assert labels == [f"{p}-{t}" for p in pitches for t in timbres] and len(set(labels)) == 9
        upper: dict[str, list[float]] = {"bright": [], "mellow": []}
        for clip in spec.generate(size, 0):
            pitch, timbre = clip.labels[0].split("-")
            (tone,) = [c for c in clip.sound.components if isinstance(c, HarmonicTone)]
            assert abs(12 * math.log2(tone.f0_hz / midi_to_hz(int(pitch)))) <= size.options["detune"] + 1e-9
            if preset == "hard":  # a semitone apart at 0-20 dB SNR: the parameters only
                continue
            audio = clip.sound.render(16000)

            def comb(candidate, audio=audio):
                return harmonic_levels(audio, 16000, midi_to_hz(candidate), 6).sum()

            assert max(range(int(pitch) - 2, int(pitch) + 3), key=comb) == int(pitch), clip.name
            levels = harmonic_levels(audio, 16000, tone.f0_hz, 6)
            second = levels[1] / np.sqrt(levels[0] * levels[2])
            if timbre == "hollow":
                assert second < 10 ** (-20 / 20), (clip.name, second)
            else:
                assert second > 10 ** (-10 / 20), (clip.name, second)
                upper[timbre].append(levels[2:].sum() / levels[0])
        if preset == "tiny":
            assert max(upper["mellow"]) < min(upper["bright"]), upper


def test_pitch_timbre_nuisances_do_not_depend_on_the_class():
    """One clip name rendered as every class: the same envelope, vibrato, level while it sounds and
    noise; only the pitch and the harmonic profile change."""
    from hear_wrappers.tasks.pitch_timbre import _pair_clip
    from hear_wrappers.tasks.synth import REFERENCE_RATE, Noise, rms

    size = TASKS["pitch_timbre"].sizes["demo"]
    sounds = [_pair_clip(5, "train-0007", p, t, size) for p in (55.0, 64.0) for t in ("bright", "mellow")]
    tones = [next(c for c in s.components if isinstance(c, HarmonicTone)) for s in sounds]
    noises = [next(c for c in s.components if isinstance(c, Noise)) for s in sounds]
    assert all(noise == noises[0] for noise in noises)
    assert all(s.gain == sounds[0].gain == 1.0 for s in sounds)  # quiet enough: never turned down
    envelope, samples = tones[0].envelope, round(size.clip_seconds * REFERENCE_RATE)
    levels = []
    for tone in tones:
        assert tone.envelope == envelope and tone.vibrato_depth == tones[0].vibrato_depth
        levels.append(rms(tone.render(REFERENCE_RATE, samples), envelope.onset_s))  # while it sounds
    # float64 sums of ~48000 squares: equal far below 1e-9 relative
    assert np.allclose(levels, levels[0], rtol=1e-9, atol=0) and 0.03 <= levels[0] <= 0.1
    assert len({(t.f0_hz, t.amplitudes) for t in tones}) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timbres": ("bright", "woody")}, "knows the timbres"),
        ({"pitches": (55, 55)}, "distinct pitches and timbres"),
        ({"pitches": (55,)}, "at least two pitches and two timbres"),
    ],
)
def test_pitch_timbre_refuses_bad_options(options, message):
    from hear_wrappers.tasks.pitch_timbre import pitch_timbre_labels

    size = TASKS["pitch_timbre"].sizes["tiny"]
    with pytest.raises(ValueError, match=message):
        pitch_timbre_labels(replace(size, options={**size.options, **options}))


@pytest.mark.parametrize(
    ("kind", "clips", "folds"),
    [
        ("synth_pitch", None, None),
        ("synth_pitch", 100, None),
        ("sound_vs_noise", None, None),
        ("sound_vs_noise", {"fold00": 1, "fold02": 6}, 4),
        ("sound_vs_noise", 200, 5),
        ("pitch_timbre", None, None),
    ],
)
def test_scene_batches_give_several_steps_and_never_a_batch_of_one(kind, clips, folds):
    """heareval's BatchNorm fails on a last batch of 1 clip; one batch per epoch trains too little."""
    _, size = resolve_size(kind, "demo", clips=clips, folds=folds)
    spec = TASKS[kind]
    classes = len(spec.vocabulary(size))
    batch = scene_batch_size(spec, size, spec.vocabulary(size))
    if spec.kfold:
        names = sorted(size.clips)
        trains = [
            classes * sum(size.clips[f] for f in names if f not in (names[i], names[(i + 1) % len(names)]))
            for i in range(len(names))
        ]
    else:
        trains = [classes * size.clips["train"]]
    assert 32 <= batch <= 260 and all(n % batch != 1 for n in trains)
    assert min(trains) / batch >= 3 or batch <= 33


def test_sizes_presets_and_overrides():
    label, size = resolve_size("synth_pitch", "demo")
    assert label == "demo" and size == TASKS["synth_pitch"].sizes["demo"]
    label, size = resolve_size("synth_pitch", "tiny", clips={"train": 5}, clip_seconds=2)
    assert label == "custom" and dict(size.clips) == {"train": 5, "valid": 1, "test": 1}
    assert size.clip_seconds == 2.0
    label, size = resolve_size("synth_onsets", "tiny", clips=3)
    assert dict(size.clips) == {"train": 3, "valid": 3, "test": 3}
    for kind in KINDS:
        assert {"tiny", "demo"} <= set(TASKS[kind].sizes)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (dict(kind="synth_pich"), "known kinds are synth_pitch, sound_vs_noise, synth_onsets"),
        (dict(sample_rates=(16000, 8000)), "not a HEAR rate: pick from 16000, 22050"),
        (dict(sample_rates=(44000,)), "not a HEAR rate"),
        (dict(sample_rates=()), "sample_rates is empty"),
        (dict(size="huge"), "use one of tiny, demo"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(kind="sound_vs_noise", folds=2), "folds must be an integer >= 3"),
        (dict(folds=4), "folds= is for k-fold tasks"),
        (dict(clip_seconds=0.1), "needs clip_seconds >= 0.5 s"),
        (dict(kind="synth_onsets", clip_seconds=0.8), "needs clip_seconds >= 1.0 s"),
        (dict(clips=0), "must be an integer >= 1"),
        (dict(kind="synth_onsets", clips=1), "needs >= 2 clips in each split"),
        (dict(clips={"training": 2}), "unknown splits ['training']"),
    ],
)
def test_bad_arguments_say_what_to_do(tmp_path, call, message):
    call = {"kind": "synth_pitch", **call}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_task(call.pop("kind"), tmp_path, **call)
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_folder_that_is_not_a_task_is_never_replaced(tmp_path):
    squatter = tmp_path / "synth_pitch-v1.0-tiny"
    squatter.mkdir()
    (squatter / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a generated task"):
        build_task("synth_pitch", tmp_path)
    assert (squatter / "notes.txt").read_text() == "mine"


def test_build_tasks_builds_every_kind(tmp_path):
    folders = build_tasks(tmp_path, clips=2, folds=3)
    assert [f.name.split("-")[0] for f in folders] == list(TASKS)
    assert all((f / "task_metadata.json").is_file() for f in folders)
    with pytest.raises(ValueError, match="unknown task kind"):
        build_tasks(tmp_path, kinds=["synth_pitch", "nope"])


def test_register_task_adds_a_kind(tmp_path):
    def generate(size, seed):
        clips = []
        for split, count in size.clips.items():
            for i in range(2 * count):
                tone = HarmonicTone(220.0 * (1 + i % 2), (1.0,), (0.0,), Envelope(0.0, 0.01, 0.4, 0.05))
                label = "low" if i % 2 == 0 else "high"
                clips.append(Clip(f"{split}-{i}.wav", split, [label], Sound((tone,), 0.5, gain=0.5)))
        return clips

    size = TaskSize(0.5, {"train": 1, "valid": 1, "test": 1})
    spec = TaskSpec(
        name="two_tones",
        description="two tones",
        embedding_type="scene",
        prediction_type="multiclass",
        split_mode="trainvaltest",
        evaluation=("top1_acc",),
        vocabulary=lambda size: ["high", "low"],
        generate=generate,
        sizes={"tiny": size, "demo": size},
        leaderboard_analogue="NSynth Pitch 5h",
    )
    try:
        register_task(spec)
        with pytest.raises(ValueError, match="registered already"):
            register_task(spec)
        folder = build_task("two_tones", tmp_path)
    finally:
        TASKS.pop("two_tones", None)
    assert vocabulary(folder) == [(0, "high"), (1, "low")]
    assert read_json(folder / "train.json") == {"train-0.wav": ["low"], "train-1.wav": ["high"]}
    with pytest.raises(ValueError, match=r"sizes need the presets \[.demo.\]"):
        TaskSpec(**{**spec.__dict__, "sizes": {"tiny": size}})


def test_command_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hear_wrappers.tasks",
            str(tmp_path),
            "--task",
            "synth_pitch",
            "--clips",
            "1",
            "--sample-rate",
            "16000",
            "--sample-rate",
            "22050",
            "--seed",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder == tmp_path / "synth_pitch-v1.0-custom"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["16000", "22050"]
    assert read_json(folder / "task_metadata.json")["hear_wrappers"]["seed"] == 2
    bad = subprocess.run(
        [sys.executable, "-m", "hear_wrappers.tasks", str(tmp_path), "--sample-rate", "8000"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not a HEAR rate" in bad.stderr


@pytest.mark.skipif(not installed("heareval", "pytorch_lightning"), reason="needs the 'eval' extra")
def test_heareval_reads_the_tasks_as_it_reads_official_ones(tiny):
    """heareval's own code: metric names, label vocabulary, splits and grid merging."""
    from heareval.predictions import task_predictions as tp
    from heareval.score import available_scores, label_vocab_as_dict
    from sklearn.model_selection import ParameterGrid

    assert set(available_scores) == HEAREVAL_METRICS
    assert set(tp.PARAM_GRID) > GRID_KEYS
    for kind, folder in tiny.items():
        metadata = read_json(folder / "task_metadata.json")
        label_vocab, nlabels = tp.label_vocab_nlabels(folder)
        label_to_idx = label_vocab_as_dict(label_vocab, key="label", value="idx")
        scores = [available_scores[name](label_to_idx=label_to_idx) for name in metadata["evaluation"]]
        assert [str(s) for s in scores] == metadata["evaluation"]
        splits = tp.get_splits_from_metadata(metadata)
        if kind == "sound_vs_noise":
            assert splits[0] == {"train": ["fold02"], "valid": ["fold01"], "test": ["fold00"]}
        else:
            assert splits == [{"train": ["train"], "valid": ["valid"], "test": ["test"]}]
        grid = dict(tp.FASTER_PARAM_GRID)
        grid.update(metadata["evaluation_params"]["task_specific_param_grid"])
        assert len(ParameterGrid(grid)) == 2  # the two initialisations: quick to search
        for split in metadata["splits"]:
            for labels in read_json(folder / f"{split}.json").values():
                assert all(label_to_idx[label] < nlabels for label in labels_of(labels))
