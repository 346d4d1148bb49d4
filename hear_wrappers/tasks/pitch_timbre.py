"""``pitch_timbre``: a scene kind whose class is a (pitch, timbre) pair, so that neither alone suffices.

Made to test combinations of models (`hear_wrappers.combined`, issue 13): a pitch model and an acoustic
(codec) model side by side. Every clip is one harmonic note; its class is ``<MIDI pitch>-<timbre>``, one
of a few pitches times a few timbres (default 3 x 3 = 9 classes, chance 1/9). A representation that
knows the pitch perfectly and nothing of the timbre tops out at ``1 / len(timbres)`` (1/3), one that
knows only the timbre at ``1 / len(pitches)``; both are needed for the rest.

* **pitch**: the class's MIDI pitch, detuned by up to ``detune`` semitones per clip (0.25).
* **timbre**: the note's harmonic profile, a family with its own small random variation per clip,
  times an extra tilt ``k^-u``, ``u`` drawn from ``tilt`` ((0, 0.3)) whatever the class:

  ============ ====================================================================================
  ``bright``   every harmonic, amplitude ``1 / k^a``, ``a`` in [0.8, 1.1] (a sawtooth, brass-like)
  ``hollow``   odd harmonics ``1 / k^a``, ``a`` in [0.8, 1.1]; even ones 26-34 dB down (clarinet-like)
  ``mellow``   every harmonic, ``1 / k^a``, ``a`` in [2.0, 2.6] (nearly a sine, flute-like)
  ``nasal``    every harmonic ``1 / sqrt(k)``, times a formant bump at 1.2-1.8 kHz (an oboe-like "aa")
  ============ ====================================================================================

* **everything else** is drawn from the clip's name alone, the same whatever its class: onset,
  envelope (plucked or sustained), vibrato, partial phases, the note's level (RMS 0.03-0.1 while it
  sounds) and coloured noise at ``snr_db`` below it ((20, 40) dB). So the only differences between
  two classes' clips are the pitch and the harmonic profile.

Presets: ``tiny`` and ``demo`` (pitches 55, 59, 64 x bright, hollow, mellow; 1 s clips), and ``hard``
(pitches 55, 56, 57 a semitone apart, tilt (0, 0.6), noise at 0-20 dB SNR), where neither model of
the combination study gets everything (docs/combined.md).

Deterministic from the seed (`clip_rng`) and synthesised at any HEAR rate like every kind; checked by
``tests/test_tasks.py`` (pitches heard in the audio, timbre families by their spectra, the nuisances
independent of the class).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hear_wrappers.tasks.generators import _grid, _level, _loguniform, _seed
from hear_wrappers.tasks.spec import Clip, TaskSize, TaskSpec, clip_rng, register_task
from hear_wrappers.tasks.synth import Envelope, HarmonicTone, Noise, Sound, midi_to_hz

__all__ = ["PITCH_TIMBRE", "TIMBRE_FAMILIES", "pitch_timbre_labels", "timbre_amplitudes"]

#: The timbre families, in the order their classes are listed.
TIMBRE_FAMILIES = ("bright", "hollow", "mellow", "nasal")
#: Partials up to this frequency (Hz); at least one.
_TOP_HZ = 7500.0
#: Largest detuning from the class pitch, in semitones.
DETUNE = 0.25


def pitch_timbre_labels(size: TaskSize) -> list[str]:
    """The classes, ``<pitch>-<timbre>``, pitch-major: e.g. ``55-bright``, ``55-hollow``, ... ``64-mellow``.

    Raises:
        ValueError: an unknown timbre, repeated pitches or timbres, or fewer than two of either.
    """
    pitches, timbres = list(size.options["pitches"]), list(size.options["timbres"])
    unknown = sorted(set(timbres) - set(TIMBRE_FAMILIES))
    if unknown:
        raise ValueError(f"pitch_timbre knows the timbres {list(TIMBRE_FAMILIES)}, got {unknown}.")
    if len(set(pitches)) != len(pitches) or len(set(timbres)) != len(timbres):
        raise ValueError(f"pitch_timbre needs distinct pitches and timbres, got {pitches} and {timbres}.")
    if len(pitches) < 2 or len(timbres) < 2:
        raise ValueError(
            f"pitch_timbre needs at least two pitches and two timbres (else one of them is the class "
            f"alone), got {pitches} and {timbres}."
        )
    return [f"{int(pitch)}-{timbre}" for pitch in pitches for timbre in timbres]


def timbre_amplitudes(family: str, f0_hz: float, rng: np.random.Generator) -> np.ndarray:
    """The harmonic profile of a family at ``f0_hz`` (partials up to 7.5 kHz), normalised to sum 1."""
    count = max(1, math.floor(_TOP_HZ / f0_hz))
    k = np.arange(1, count + 1, dtype=np.float64)
    if family == "bright":
        amplitudes = k ** -rng.uniform(0.8, 1.1)
    elif family == "hollow":
        amplitudes = np.where(k % 2 == 1, 1.0, 10 ** (-rng.uniform(26, 34) / 20)) * k ** -rng.uniform(
            0.8, 1.1
        )
    elif family == "mellow":
        amplitudes = k ** -rng.uniform(2.0, 2.6)
    elif family == "nasal":
        centre, width = rng.uniform(1200, 1800), rng.uniform(250, 400)
        amplitudes = (0.1 + np.exp(-(((k * f0_hz - centre) / width) ** 2))) / np.sqrt(k)
    else:
        raise ValueError(f"unknown timbre {family!r}: one of {list(TIMBRE_FAMILIES)}.")
    return amplitudes / amplitudes.sum()


def _pair_clip(seed: int, name: str, pitch: float, timbre: str, size: TaskSize) -> Sound:
    """One note of ``pitch`` and ``timbre``; every other draw comes from the clip's name alone."""
    seconds, options = size.clip_seconds, size.options
    rng = clip_rng(seed, "pitch_timbre", name)  # the nuisances: the same whatever the class
    onset = rng.uniform(0.0, 0.05 * seconds)
    held = 0.8 * seconds - onset
    if rng.random() < 0.5:  # plucked / struck
        attack, release = rng.uniform(0.002, 0.01), rng.uniform(0.03, 0.1)
        envelope = Envelope(onset, attack, held, release, rng.uniform(0.2, 0.8))
    else:  # bowed / blown
        envelope = Envelope(onset, min(held, rng.uniform(0.02, 0.12)), held, rng.uniform(0.05, 0.15))
    vibrato = rng.uniform(0.002, 0.005) if rng.random() < 0.4 else 0.0
    vibrato_hz = rng.uniform(4.0, 7.0)
    detune = rng.uniform(-1, 1) * options["detune"]
    tilt = rng.uniform(*options["tilt"])
    phases = rng.uniform(0, 2 * np.pi, 64)
    level = _loguniform(rng, 0.03, 0.1)  # the note's RMS while it sounds
    snr = 10 ** (rng.uniform(*options["snr_db"]) / 20)
    noise = Noise(_seed(rng), seconds, rms=level / snr, exponent=rng.uniform(0, 1.5), lowcut_hz=40.0)
    timbre_rng = clip_rng(seed, "pitch_timbre", f"{name}/timbre")  # the family's own variation
    f0 = midi_to_hz(pitch + detune)
    amplitudes = timbre_amplitudes(timbre, f0, timbre_rng)
    amplitudes = amplitudes * np.arange(1, len(amplitudes) + 1) ** -tilt
    tone = HarmonicTone(
        f0_hz=f0,
        amplitudes=tuple((amplitudes / amplitudes.sum()).tolist()),
        phases=tuple(phases[: len(amplitudes)].tolist()),
        envelope=envelope,
        vibrato_depth=vibrato,
        vibrato_hz=vibrato_hz,
    )
    tone = replace(tone, gain=level / _level(tone, envelope.onset_s, min(envelope.end_s, seconds), seconds))
    return Sound((tone, noise), seconds).limited()


def _generate(size: TaskSize, seed: int) -> list[Clip]:
    labels = pitch_timbre_labels(size)
    clips = []
    for split, per_class in size.clips.items():
        for index in range(per_class * len(labels)):
            name = f"{split}-{index:04d}"
            label = labels[index % len(labels)]
            pitch, timbre = label.split("-")
            sound = _pair_clip(seed, name, float(pitch), timbre, size)
            clips.append(Clip(f"{name}.wav", split, [label], sound))
    return clips


_OPTIONS = {
    "pitches": (55, 59, 64),
    "timbres": ("bright", "hollow", "mellow"),
    "detune": 0.25,
    "tilt": (0.0, 0.3),
    "snr_db": (20.0, 40.0),
}
_HARD = {**_OPTIONS, "pitches": (55, 56, 57), "tilt": (0.0, 0.6), "snr_db": (0.0, 20.0)}

PITCH_TIMBRE = register_task(
    TaskSpec(
        name="pitch_timbre",
        description="one note; the class is its (pitch, timbre) pair: 3 pitches x 3 timbres, neither alone",
        embedding_type="scene",
        prediction_type="multiclass",
        split_mode="trainvaltest",
        evaluation=("top1_acc",),
        vocabulary=pitch_timbre_labels,
        generate=_generate,
        sizes={
            # pitches: the classes' MIDI pitches; timbres: families of TIMBRE_FAMILIES (the classes
            # are every pair); detune: each clip's pitch is off by up to this many semitones; tilt:
            # (low, high) of an extra spectral tilt k^-u on every family; snr_db: (low, high) of the
            # note's RMS while it sounds over the noise's.
            "tiny": TaskSize(1.0, {"train": 2, "valid": 1, "test": 1}, _OPTIONS),
            "demo": TaskSize(1.0, {"train": 12, "valid": 3, "test": 6}, _OPTIONS),
            # Pitches a semitone apart, timbres blurred by more tilt, noise at 0-20 dB SNR.
            "hard": TaskSize(1.0, {"train": 12, "valid": 3, "test": 6}, _HARD),
        },
        leaderboard_analogue="Mridangam Stroke",  # stroke (timbre) at a tonic (pitch)
        param_grid=_grid(max_epochs=150, patience=6),
        min_clip_seconds=0.5,
    )
)
