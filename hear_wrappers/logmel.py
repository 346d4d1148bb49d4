"""Log-mel (or MFCC) frames as a HEAR module: a plain, training-free reference to set the models beside.

No network and no weights: each frame is the log energy of a 25 ms Hann-windowed stretch of audio in
64 mel bands, every 10 ms; with ``features="mfcc"``, the first 20 coefficients of its orthonormal
DCT-II (MFCCs). The scene embedding is any strategy of the pooling registry over these frames (default
``"mean"``), so a pooling can be judged on features whose every dimension is a known band or
cepstral coefficient. Only torch is needed at run time (no torchaudio, no librosa).

* Sample rate: ``sample_rate`` (default 16000 Hz), any of HEAR's 16000, 22050, 32000, 44100, 48000.
  The mel bands cover ``fmin_hz``-``fmax_hz`` (default 0-8000 Hz, the band every HEAR rate holds, so
  the features mean the same whatever the rate).
* Frames: window ``round(win_ms * rate / 1000)`` samples (400 at 16 kHz), zero-padded to the next
  power of two (at least 512) for the FFT; hop ``round(hop_ms * rate / 1000)`` samples (160 at
  16 kHz). Frame ``k`` is centred on sample ``k * hop`` (the clip is zero-padded at both ends), so a
  clip of ``N`` samples has ``N // hop + 1`` frames and timestamps ``k * hop / rate * 1000`` ms.
* Values: ``log(mel power + 1e-10)`` (natural log; silence gives about -23), where the power
  spectrum is scaled so that a full-scale sine's peak bin has power 1/4 (the spectrum is divided by the
  window's sum). MFCCs are ``dct(logmel)[:n_mfcc]``, orthonormal, c0 included.

Usage::

    from hear_wrappers import logmel

    model = logmel.load_model(pooling="topk10")  # or features="mfcc", sample_rate=48000, ...
    frames, timestamps = logmel.get_timestamp_embeddings(audio, model)  # [n, frames, 64], [n, frames] ms
    clips = logmel.get_scene_embeddings(audio, model)  # [n, 64]

    python -m heareval.embeddings.runner hear_wrappers.logmel --tasks-dir tasks \\
        --model-options '{"pooling": "mean+std"}'
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hear_wrappers.core.pooling import Pooling, get_pooling

__all__ = ["FEATURES", "LogMel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]

#: HEAR's sample rates, in Hz.
HEAR_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
#: What a frame holds: log-mel energies or their cepstrum.
FEATURES = ("logmel", "mfcc")
#: Added to the mel power before the log: the floor of quiet bands.
LOG_FLOOR = 1e-10
#: At most this many samples go through the STFT at once (about 64 MB of spectrum at 16 kHz).
SAMPLES_PER_PASS = 2**22


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of `hz_to_mel`, in Hz."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, sample_rate: int, n_mels: int, fmin_hz: float, fmax_hz: float) -> torch.Tensor:
    """``[n_fft // 2 + 1, n_mels]`` triangular filters, equally spaced on the HTK mel scale, peak 1.

    Filter ``m`` rises from edge ``m`` to edge ``m + 1`` and falls to edge ``m + 2`` (``n_mels + 2``
    edges from ``fmin_hz`` to ``fmax_hz``), evaluated at the FFT bins' frequencies.

    Raises:
        ValueError: a filter holds no FFT bin (too many bands for the resolution).
    """
    edges = mel_to_hz(torch.linspace(hz_to_mel(fmin_hz).item(), hz_to_mel(fmax_hz).item(), n_mels + 2))
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0).T
    empty = (filters.sum(0) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"mel bands {empty} fall between the FFT bins ({sample_rate / n_fft:.1f} Hz apart): use fewer "
            f"n_mels, a higher fmin_hz or a longer win_ms."
        )
    return filters


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``[n_in, n_out]`` orthonormal DCT-II: ``x @ D`` gives the first ``n_out`` coefficients."""
    n = torch.arange(n_in, dtype=torch.float64)[:, None]
    k = torch.arange(n_out, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis


class LogMel(nn.Module):
    """Log-mel or MFCC frames with a pooling strategy: the HEAR model object of `hear_wrappers.logmel`.

    Attributes:
        sample_rate: the audio rate it takes, in Hz.
        timestamp_embedding_size: values per frame (``n_mels``, or ``n_mfcc`` for MFCCs).
        scene_embedding_size: values per clip (the pooling's output size).
        hop: frame hop in samples; ``win`` window length in samples; ``n_fft`` FFT size.
        pooling: the strategy making clip embeddings from frames.
    """

    window: torch.Tensor  # buffers: analysis window, mel filterbank, DCT-II matrix
    filters: torch.Tensor
    dct: torch.Tensor

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        features: str = "logmel",
        n_mels: int = 64,
        n_mfcc: int = 20,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        fmin_hz: float = 0.0,
        fmax_hz: float = 8000.0,
        pooling: str | Pooling = "mean",
    ) -> None:
        super().__init__()
        if isinstance(sample_rate, bool) or sample_rate not in HEAR_SAMPLE_RATES:
            raise ValueError(
                f"sample_rate must be one of HEAR's {HEAR_SAMPLE_RATES} Hz, got {sample_rate!r}."
            )
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}.")
        for name, value in (("n_mels", n_mels), ("n_mfcc", n_mfcc)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        if features == "mfcc" and n_mfcc > n_mels:
            raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels}).")
        if not 0 <= fmin_hz < fmax_hz <= sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin_hz < fmax_hz <= {sample_rate / 2} Hz (the Nyquist frequency), got "
                f"fmin_hz={fmin_hz}, fmax_hz={fmax_hz}."
            )
        self.sample_rate = int(sample_rate)
        self.features = features
        self.win = round(win_ms * sample_rate / 1000)
        self.hop = round(hop_ms * sample_rate / 1000)
        if self.win < 16 or self.hop < 1:
            raise ValueError(
                f"win_ms and hop_ms are too short at {sample_rate} Hz: {win_ms} ms, {hop_ms} ms."
            )
        self.n_fft = max(512, 1 << (self.win - 1).bit_length())
        self.pooling = get_pooling(pooling)
        self.timestamp_embedding_size = n_mfcc if features == "mfcc" else n_mels
        self.scene_embedding_size = self.pooling.output_size(self.timestamp_embedding_size)
        window = torch.hann_window(self.win, periodic=True, dtype=torch.float64)
        self.register_buffer("window", (window / window.sum()).float(), persistent=False)
        filters = mel_filterbank(self.n_fft, sample_rate, n_mels, fmin_hz, fmax_hz)
        self.register_buffer("filters", filters.float(), persistent=False)
        self.register_buffer("dct", dct_matrix(n_mels, n_mfcc).float(), persistent=False)

    def num_frames(self, n_samples: int) -> int:
        """Frames of a clip of ``n_samples`` samples: ``n_samples // hop + 1``."""
        return n_samples // self.hop + 1

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """``[n, samples]`` audio at `sample_rate` -> ``[n, frames, timestamp_embedding_size]`` float32."""
        if not isinstance(audio, torch.Tensor) or audio.dim() != 2 or not audio.is_floating_point():
            raise ValueError(
                f"audio must be a float tensor [n_sounds, n_samples] at {self.sample_rate} Hz, got "
                f"{type(audio).__name__} {tuple(getattr(audio, 'shape', ()))}."
            )
        n, samples = audio.shape
        out = audio.new_empty(
            (n, self.num_frames(samples), self.timestamp_embedding_size), dtype=torch.float32
        )
        per_pass = max(1, SAMPLES_PER_PASS // max(1, samples))
        for first in range(0, n, per_pass):
            out[first : first + per_pass] = self._frames(audio[first : first + per_pass].float())
        return out

    def _frames(self, audio: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            audio,
            self.n_fft,
            hop_length=self.hop,
            win_length=self.win,
            window=self.window.to(audio.device),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # [n, bins, frames]
        power = spectrum.real.square() + spectrum.imag.square()
        mel = torch.einsum("nbf,bm->nfm", power, self.filters.to(audio.device))
        logmel = torch.log(mel + LOG_FLOOR)
        if self.features == "mfcc":
            return logmel @ self.dct.to(audio.device)
        return logmel

    def timestamps(self, n_sounds: int, n_samples: int, device: torch.device | None = None) -> torch.Tensor:
        """``[n_sounds, frames]`` frame centres in ms: ``k * hop / sample_rate * 1000``."""
        centres = torch.arange(self.num_frames(n_samples), dtype=torch.float64) * (1000.0 * self.hop)
        return (centres / self.sample_rate).float().to(device).repeat(n_sounds, 1)

    def extra_repr(self) -> str:
        return (
            f"features={self.features!r}, sample_rate={self.sample_rate}, win={self.win}, hop={self.hop}, "
            f"n_fft={self.n_fft}, size={self.timestamp_embedding_size}, pooling={self.pooling.name!r}"
        )


def load_model(model_file_path: str = "", **options) -> LogMel:
    """The HEAR entry point: a `LogMel` with ``options`` (see its arguments; all have defaults).

    Args:
        model_file_path: must be empty: log-mel frames have no weights.
        **options: ``sample_rate``, ``features`` (``"logmel"`` or ``"mfcc"``), ``n_mels``, ``n_mfcc``,
            ``win_ms``, ``hop_ms``, ``fmin_hz``, ``fmax_hz``, ``pooling`` (a registered name).
    """
    if model_file_path:
        raise ValueError(
            f"hear_wrappers.logmel has no weights, so takes no model file (got {model_file_path!r}): "
            f"leave out --model."
        )
    return LogMel(**options)


def _model(model: object) -> LogMel:
    if not isinstance(model, LogMel):
        raise TypeError(f"model must come from hear_wrappers.logmel.load_model, got {type(model).__name__}.")
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: LogMel) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n, samples]`` -> frames ``[n, frames, size]`` and their centres ``[n, frames]`` in ms."""
    model = _model(model)
    frames = model.frames(audio)
    return frames, model.timestamps(audio.shape[0], audio.shape[1], audio.device)


def get_scene_embeddings(audio: torch.Tensor, model: LogMel) -> torch.Tensor:
    """``[n, samples]`` -> ``[n, scene_embedding_size]``: the model's pooling over its frames."""
    model = _model(model)
    return model.pooling(model.frames(audio))
