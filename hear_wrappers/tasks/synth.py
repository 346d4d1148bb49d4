"""Sounds described by rate-independent parameters, rendered at any HEAR sample rate.

A generated task must hold *the same* clip at every sample rate it offers, the way HEAR's own tasks do
(there, one recording resampled). Here each clip is a `Sound`: a few components whose parameters are
all in seconds and Hz (a harmonic tone, a chirp, a click train, coloured noise), each sampling its
continuous-time formula at the requested rate. Nothing is resampled, and everything a lower rate
cannot represent is left out rather than aliased: partials at or above 95% of the Nyquist frequency
are dropped, and noise is a sum of sinusoids on a fixed frequency grid (``k / duration`` Hz, drawn
from a seed once, up to 24 kHz) of which each rate keeps those below its Nyquist frequency. So a
48 kHz clip is the 16 kHz clip plus what lies between 8 and 24 kHz.

All renders return float64 ``[n_samples]``; `Sound.render` sums its components and clips to [-1, 1].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COMMON_BAND_HZ",
    "HEAR_SAMPLE_RATES",
    "MAX_NYQUIST_HZ",
    "REFERENCE_RATE",
    "Chirp",
    "ClickTrain",
    "Envelope",
    "HarmonicTone",
    "Noise",
    "Sound",
    "midi_to_hz",
    "num_samples",
]

#: The sample rates HEAR tasks are distributed at, in Hz.
HEAR_SAMPLE_RATES: tuple[int, ...] = (16000, 22050, 32000, 44100, 48000)
#: The highest Nyquist frequency among them (48 kHz / 2), in Hz.
MAX_NYQUIST_HZ = 24000.0
#: The band every HEAR rate represents (the Nyquist frequency of 16 kHz), in Hz. Noise levels are
#: defined over it, so that a noise has the same level at every rate.
COMMON_BAND_HZ = 8000.0
#: The rate at which generators measure levels (e.g. to set a signal-to-noise ratio), in Hz. Levels
#: are a function of the parameters only, never of the rates a task is built at.
REFERENCE_RATE = 16000
#: Partials and sweeps stop at this fraction of a rate's Nyquist frequency.
NYQUIST_MARGIN = 0.95


def num_samples(seconds: float, sample_rate: int) -> int:
    """Samples in ``seconds`` at ``sample_rate`` Hz, rounded to the nearest integer."""
    return round(seconds * sample_rate)


def midi_to_hz(pitch: float) -> float:
    """Frequency in Hz of a MIDI pitch (69 = A4 = 440 Hz; fractional pitches are detuned notes)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _span(start_s: float, end_s: float, sample_rate: int, n: int) -> tuple[int, int]:
    """Indices ``[i0, i1)`` of the samples whose times lie in ``[start_s, end_s)``, within ``[0, n)``."""
    i0 = min(n, max(0, math.ceil(start_s * sample_rate)))
    i1 = min(n, max(i0, math.ceil(end_s * sample_rate)))
    return i0, i1


@dataclass(frozen=True)
class Envelope:
    """Amplitude envelope: raised-cosine attack, optional exponential decay, raised-cosine release.

    Attributes:
        onset_s: where the attack starts, in s from the clip start.
        attack_s: attack length in s (0 to 1), at most ``duration_s``.
        duration_s: from the onset to the start of the release, in s.
        release_s: release length in s (to 0), after ``duration_s``.
        decay_s: time constant in s of the exponential decay that follows the attack (a plucked
            sound); ``math.inf`` for a sustained one.
    """

    onset_s: float
    attack_s: float
    duration_s: float
    release_s: float
    decay_s: float = math.inf

    def __post_init__(self) -> None:
        if not (self.attack_s >= 0 and self.release_s >= 0 and self.duration_s >= self.attack_s):
            raise ValueError(f"invalid envelope {self}: need 0 <= attack_s <= duration_s, release_s >= 0.")

    @property
    def end_s(self) -> float:
        """Where the envelope returns to 0, in s from the clip start."""
        return self.onset_s + self.duration_s + self.release_s

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The envelope at times ``t`` (s), in [0, 1]."""
        x = t - self.onset_s
        env = np.ones_like(x)
        if self.attack_s > 0:
            rising = x < self.attack_s
            env[rising] = 0.5 - 0.5 * np.cos(np.pi * np.clip(x[rising], 0, None) / self.attack_s)
        if math.isfinite(self.decay_s):
            env *= np.exp(-np.clip(x - self.attack_s, 0, None) / self.decay_s)
        falling = x > self.duration_s
        if self.release_s > 0:
            phase = np.clip((x[falling] - self.duration_s) / self.release_s, 0, 1)
            env[falling] *= 0.5 + 0.5 * np.cos(np.pi * phase)
        else:
            env[falling] = 0
        env[(x < 0) | (x >= self.duration_s + self.release_s)] = 0
        return env


@dataclass(frozen=True)
class HarmonicTone:
    """A pitched tone: partials at ``k * f0 * sqrt(1 + B k^2)`` (B = 0: harmonic), optional vibrato.

    Attributes:
        f0_hz: fundamental frequency in Hz.
        amplitudes: amplitude of partial 1, 2, ... (their sum bounds the peak before ``gain``).
        phases: starting phase of each partial, in radians (same length as ``amplitudes``).
        envelope: the amplitude envelope.
        inharmonicity: B above (stiff-string inharmonicity; 0 for a harmonic tone).
        vibrato_depth: peak frequency deviation as a fraction of the frequency (0.005 = 8.6 cents).
        vibrato_hz: vibrato rate in Hz.
        gain: linear gain.
    """

    f0_hz: float
    amplitudes: tuple[float, ...]
    phases: tuple[float, ...]
    envelope: Envelope
    inharmonicity: float = 0.0
    vibrato_depth: float = 0.0
    vibrato_hz: float = 5.0
    gain: float = 1.0

    def render(self, sample_rate: int, n: int) -> np.ndarray:
        """``[n]`` samples at ``sample_rate`` Hz; partials above 95% of Nyquist are left out."""
        out = np.zeros(n)
        i0, i1 = _span(self.envelope.onset_s, self.envelope.end_s, sample_rate, n)
        if i1 == i0:
            return out
        t = np.arange(i0, i1, dtype=np.float64) / sample_rate
        phase = t.copy()
        if self.vibrato_depth:
            rate = 2 * np.pi * self.vibrato_hz
            phase += self.vibrato_depth * (1 - np.cos(rate * t)) / rate
        phase *= 2 * np.pi * self.f0_hz
        limit = NYQUIST_MARGIN * sample_rate / 2
        total = np.zeros(i1 - i0)
        for k, (amplitude, start) in enumerate(zip(self.amplitudes, self.phases, strict=True), start=1):
            stretch = k * math.sqrt(1 + self.inharmonicity * k * k)
            if self.f0_hz * stretch * (1 + self.vibrato_depth) >= limit:
                break  # stretched partial frequencies only grow with k
            if amplitude:
                total += amplitude * np.sin(stretch * phase + start)
        out[i0:i1] = self.gain * self.envelope(t) * total
        return out


@dataclass(frozen=True)
class Chirp:
    """An exponential sine sweep from ``start_hz`` to ``end_hz`` over the envelope's span.

    A harmonic fades out (over 10% of the frequency) where it nears 95% of a rate's Nyquist frequency.

    Attributes:
        start_hz: frequency at the envelope's onset, in Hz.
        end_hz: frequency at the envelope's end, in Hz.
        envelope: the amplitude envelope.
        harmonics: amplitude of the sweep's harmonic 1, 2, ... (a pure sweep: ``(1.0,)``).
        gain: linear gain.
    """

    start_hz: float
    end_hz: float
    envelope: Envelope
    harmonics: tuple[float, ...] = (1.0,)
    gain: float = 1.0

    def render(self, sample_rate: int, n: int) -> np.ndarray:
        """``[n]`` samples at ``sample_rate`` Hz; harmonics fade out before 95% of Nyquist."""
        out = np.zeros(n)
        i0, i1 = _span(self.envelope.onset_s, self.envelope.end_s, sample_rate, n)
        if i1 == i0:
            return out
        t = np.arange(i0, i1, dtype=np.float64) / sample_rate
        x = t - self.envelope.onset_s
        span = self.envelope.end_s - self.envelope.onset_s
        growth = math.log(self.end_hz / self.start_hz) / span
        if abs(growth) < 1e-12:
            phase = 2 * np.pi * self.start_hz * x
        else:
            phase = 2 * np.pi * self.start_hz * np.expm1(growth * x) / growth
        limit = NYQUIST_MARGIN * sample_rate / 2
        frequency = self.start_hz * np.exp(growth * x)
        total = np.zeros(i1 - i0)
        for h, amplitude in enumerate(self.harmonics, start=1):
            if h * min(self.start_hz, self.end_hz) >= limit:
                break
            # Fade a harmonic out over the last 10% below the limit, where the sweep takes it there.
            fade = np.clip((limit - h * frequency) / (0.1 * limit), 0, 1)
            total += amplitude * (0.5 - 0.5 * np.cos(np.pi * fade)) * np.sin(h * phase)
        out[i0:i1] = self.gain * self.envelope(t) * total
        return out


@dataclass(frozen=True)
class ClickTrain:
    """Percussive clicks: at each time, a damped sinusoid (a struck resonance) with a 1 ms attack.

    Attributes:
        click_times_s: when each click starts, in s from the clip start.
        resonance_hz: frequency of the damped sinusoid, in Hz (keep it below 7.6 kHz, 95% of the
            Nyquist frequency at 16 kHz, so that every rate holds it; above a rate's limit it is
            left out).
        decay_s: its exponential decay time constant, in s.
        gain: linear gain (each click peaks at about ``gain``).
    """

    click_times_s: tuple[float, ...]
    resonance_hz: float
    decay_s: float
    gain: float = 1.0

    #: raised-cosine attack of each click, in s (smooth enough that 16 kHz holds nearly all of it)
    ATTACK_S = 0.001
    #: clicks are cut after this many decay time constants (-87 dB)
    LENGTH_IN_DECAYS = 10

    @property
    def end_s(self) -> float:
        """Where the last click has died away, in s."""
        return max(self.click_times_s) + self.LENGTH_IN_DECAYS * self.decay_s

    def render(self, sample_rate: int, n: int) -> np.ndarray:
        """``[n]`` samples at ``sample_rate`` Hz."""
        out = np.zeros(n)
        if self.resonance_hz >= NYQUIST_MARGIN * sample_rate / 2:
            return out
        for start in self.click_times_s:
            i0, i1 = _span(start, start + self.LENGTH_IN_DECAYS * self.decay_s, sample_rate, n)
            x = np.arange(i0, i1, dtype=np.float64) / sample_rate - start
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(x / self.ATTACK_S, 0, 1))
            out[i0:i1] += ramp * np.exp(-x / self.decay_s) * np.sin(2 * np.pi * self.resonance_hz * x)
        return self.gain * out


@dataclass(frozen=True)
class Noise:
    """Coloured noise: random sinusoids at ``k / period_s`` Hz (k = 1, 2, ... up to 24 kHz).

    The coefficients come from ``seed`` alone, so the noise is the same signal at every rate (each
    rate keeping the sinusoids below its Nyquist frequency). Power falls as ``1 / f**exponent``
    above ``lowcut_hz`` (0: white, 1: pink, 2: brown) and is 0 below it.

    Attributes:
        seed: seed of the coefficients (any non-negative integer).
        period_s: the noise repeats with this period, in s; use the clip length.
        rms: RMS level of the noise below 8 kHz (the band every HEAR rate holds), linear.
        exponent: spectral slope, see above.
        lowcut_hz: no noise below this frequency, in Hz.
        envelope: optional amplitude envelope (``None``: constant).
    """

    seed: int
    period_s: float
    rms: float
    exponent: float = 0.0
    lowcut_hz: float = 20.0
    envelope: Envelope | None = None

    def coefficients(self) -> np.ndarray:
        """Complex amplitude of the sinusoid at ``k / period_s`` Hz for k = 0 ... up to 24 kHz (read-only).

        Drawing them is most of a long clip's synthesis time (720k pairs for 30 s), and a clip is
        rendered several times (at `REFERENCE_RATE` to limit its peak, then at each rate built), so
        the last few noises' coefficients are kept.
        """
        return _noise_coefficients(self.seed, self.period_s, self.rms, self.exponent, self.lowcut_hz)

    def render(self, sample_rate: int, n: int) -> np.ndarray:
        """``[n]`` samples at ``sample_rate`` Hz: the sinusoids below 95% of its Nyquist frequency."""
        coefficients = self.coefficients()
        spectrum = np.zeros(n // 2 + 1, dtype=np.complex128)
        frequencies = np.arange(len(coefficients)) / self.period_s
        below_limit = int(np.searchsorted(frequencies, NYQUIST_MARGIN * sample_rate / 2))
        # Bins 0 ... (n - 1) // 2: never the Nyquist bin of an even n, which holds a real value only.
        keep = min(len(coefficients), below_limit, (n - 1) // 2 + 1)
        spectrum[:keep] = coefficients[:keep]
        out = np.fft.irfft(spectrum, n=n, norm="forward")
        if self.envelope is not None:  # 0 outside its span: evaluated only where it is not
            i0, i1 = _span(self.envelope.onset_s, self.envelope.end_s, sample_rate, n)
            out[:i0] = 0.0
            out[i1:] = 0.0
            out[i0:i1] *= self.envelope(np.arange(i0, i1, dtype=np.float64) / sample_rate)
        return out


@functools.lru_cache(maxsize=8)
def _noise_coefficients(
    seed: int, period_s: float, level: float, exponent: float, lowcut_hz: float
) -> np.ndarray:
    """`Noise.coefficients` of these parameters, read-only (at most 8 kept: 92 MB for 30 s noises)."""
    count = math.floor(MAX_NYQUIST_HZ * period_s) + 1
    rng = np.random.default_rng(seed)
    coefficients = rng.standard_normal(count) + 1j * rng.standard_normal(count)
    frequencies = np.arange(count) / period_s
    shape = np.zeros(count)
    audible = frequencies >= max(lowcut_hz, 1 / period_s)
    shape[audible] = frequencies[audible] ** (-exponent / 2)
    coefficients *= shape
    # With the unscaled inverse FFT used in `render`, bin k becomes 2 |c_k| cos(...): power 2 |c_k|^2.
    common = frequencies < COMMON_BAND_HZ
    power = 2 * np.sum(np.abs(coefficients[common]) ** 2)
    out = coefficients * (level / math.sqrt(power))
    out.flags.writeable = False
    return out


Component = HarmonicTone | Chirp | ClickTrain | Noise


@dataclass(frozen=True)
class Sound:
    """A clip: the sum of its components, times ``gain``, clipped to [-1, 1].

    Attributes:
        components: the parts, each with ``render(sample_rate, n) -> [n]``.
        seconds: the clip length in s.
        gain: linear gain applied to the sum.
    """

    components: tuple[Component, ...]
    seconds: float
    gain: float = 1.0

    def mix(self, sample_rate: int) -> np.ndarray:
        """The clip at ``sample_rate`` Hz before clipping: float64 ``[round(seconds * sample_rate)]``."""
        n = num_samples(self.seconds, sample_rate)
        out = np.zeros(n)
        for component in self.components:
            out += component.render(sample_rate, n)
        return self.gain * out

    def render(self, sample_rate: int) -> np.ndarray:
        """The clip at ``sample_rate`` Hz: float64 ``[round(seconds * sample_rate)]`` in [-1, 1]."""
        return np.clip(self.mix(sample_rate), -1.0, 1.0)

    def limited(self, peak: float = 0.5, *, component_sum: np.ndarray | None = None) -> Sound:
        """This sound, turned down if needed so that its peak at `REFERENCE_RATE` is at most ``peak``.

        The decision depends on the parameters only (never on the rates built). Peaks between the
        samples of a lower rate can be higher, by up to 4 dB for the components used here, so 0.5
        keeps every rate below 0.8.

        Args:
            peak: the highest magnitude allowed at `REFERENCE_RATE`.
            component_sum: the components rendered at `REFERENCE_RATE` and summed in order, before
                ``gain``, if the caller has them already (a generator that measured them); else they
                are rendered here.
        """
        mix = self.mix(REFERENCE_RATE) if component_sum is None else self.gain * component_sum
        highest = float(np.max(np.abs(mix), initial=0.0))
        if highest <= peak:
            return self
        return Sound(self.components, self.seconds, self.gain * peak / highest)


def rms(signal: np.ndarray, start_s: float = 0.0, end_s: float = math.inf, sample_rate: int = REFERENCE_RATE):
    """RMS of ``signal`` (at ``sample_rate`` Hz) over ``[start_s, end_s)`` (default: all of it), linear."""
    i0, i1 = _span(start_s, min(end_s, len(signal) / sample_rate), sample_rate, len(signal))
    part = signal[i0:i1]
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0
