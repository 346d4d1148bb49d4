"""LAION-CLAP's log-mel front ends at 48 kHz, without torchlibrosa, librosa or torchaudio.

Both front ends take 48 kHz audio ``[B, N]`` to log-mel frames ``[B, N // 480 + 1, 64]``: a Hann
window of 1024 samples every 480 samples (10 ms), frames centred on samples ``k * 480`` with reflect
padding at the clip's ends, power spectrum, 64 mel bands from 50 Hz to 14 kHz, then
``10 * log10(max(x, 1e-10))`` (dB, no top-dB clipping).

* **slaney** (`ConvSpectrogram` + `SlaneyLogMel`): what LAION-CLAP's non-fusion models compute inside
  HTS-AT, torchlibrosa's STFT by convolution with fixed windowed-DFT kernels and librosa's default
  (slaney-scale, area-normalised) mel filters. The kernels and filters are stored in the official
  checkpoints (``spectrogram_extractor.stft.conv_{real,imag}.weight``, ``logmel_extractor.melW``), so
  the modules carry them as tensors under those names.
* **HTK** (`HtkLogMel`): what the fusion models were trained on, computed by laion_clap's data
  pipeline outside the network with torchaudio's ``MelSpectrogram`` (HTK-scale mel filters without
  normalisation) and ``AmplitudeToDB``. Not in the checkpoints: its window and filters are derived.

tests/test_clap.py checks the filters and kernels against librosa's and torchlibrosa's and the HTK
front end against laion_clap's ``get_mel`` written in numpy float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "F_MAX",
    "F_MIN",
    "HOP",
    "N_FFT",
    "N_MELS",
    "SAMPLE_RATE",
    "ConvSpectrogram",
    "HtkLogMel",
    "SlaneyLogMel",
    "dft_kernels",
    "htk_mel_filterbank",
    "power_to_db",
    "slaney_mel_filterbank",
]

SAMPLE_RATE = 48000
N_FFT = 1024
HOP = 480  # 10 ms
N_MELS = 64
F_MIN, F_MAX = 50.0, 14000.0


def dft_kernels(n_fft: int = N_FFT) -> tuple[torch.Tensor, torch.Tensor]:
    """Hann-windowed DFT rows as conv1d weights ``[n_fft // 2 + 1, 1, n_fft]``: real, imaginary parts.

    Computed in float64 and rounded once to float32, as torchlibrosa's ``STFT`` kernels.
    """
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    phase = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    real = (torch.cos(phase) * window).float()[:, None, :]
    imag = (-torch.sin(phase) * window).float()[:, None, :]
    return real, imag


def _slaney_hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    linear = hz / (200.0 / 3)
    log_part = 15.0 + torch.log(hz.clamp(min=1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log_part, linear)


def _slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return torch.where(mel >= 15.0, log_part, linear)


def _triangles(fft_hz: torch.Tensor, edges_hz: torch.Tensor) -> torch.Tensor:
    """Triangular filters ``[n_freqs, n_mels]`` with corners at consecutive ``edges_hz``, computed in
    the inputs' dtype."""
    rising = (fft_hz[:, None] - edges_hz[None, :-2]) / (edges_hz[1:-1] - edges_hz[:-2])
    falling = (edges_hz[None, 2:] - fft_hz[:, None]) / (edges_hz[2:] - edges_hz[1:-1])
    return torch.minimum(rising, falling).clamp(min=0.0)


def slaney_mel_filterbank() -> torch.Tensor:
    """Slaney-scale, area-normalised mel filters ``[513, 64]`` (librosa's default ``filters.mel``),
    computed in float64 and rounded once to float32."""
    f64 = torch.float64
    fft_hz = torch.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1, dtype=f64)
    low, high = (_slaney_hz_to_mel(torch.tensor(f, dtype=f64)) for f in (F_MIN, F_MAX))
    edges = _slaney_mel_to_hz(torch.linspace(float(low), float(high), N_MELS + 2, dtype=f64))
    weights = _triangles(fft_hz, edges) * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return weights.float()


def htk_mel_filterbank() -> torch.Tensor:
    """HTK-scale mel filters ``[513, 64]`` without normalisation (torchaudio's ``melscale_fbanks``,
    in float32 as there)."""
    fft_hz = torch.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    low, high = (2595.0 * math.log10(1.0 + f / 700.0) for f in (F_MIN, F_MAX))
    edges = 700.0 * (10 ** (torch.linspace(low, high, N_MELS + 2) / 2595.0) - 1.0)
    return _triangles(fft_hz, edges)


def power_to_db(power: torch.Tensor) -> torch.Tensor:
    """``10 * log10(max(power, 1e-10))``: dB of a power spectrogram, floored at -100 dB."""
    return 10.0 * torch.log10(power.clamp(min=1e-10))


class _ConvStft(nn.Module):
    """The fixed windowed-DFT kernels, as ``conv_real`` / ``conv_imag`` (torchlibrosa's key names)."""

    def __init__(self) -> None:
        super().__init__()
        real, imag = dft_kernels()
        self.conv_real = nn.Conv1d(1, N_FFT // 2 + 1, N_FFT, stride=HOP, bias=False)
        self.conv_imag = nn.Conv1d(1, N_FFT // 2 + 1, N_FFT, stride=HOP, bias=False)
        with torch.no_grad():
            self.conv_real.weight.copy_(real)
            self.conv_imag.weight.copy_(imag)


class ConvSpectrogram(nn.Module):
    """torchlibrosa's ``Spectrogram`` (power 2, centred, reflect padding) by convolution with ``stft``'s
    fixed kernels; its tensors are ``stft.conv_real.weight`` and ``stft.conv_imag.weight``."""

    def __init__(self) -> None:
        super().__init__()
        self.stft = _ConvStft()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Power spectrogram ``[B, N // 480 + 1, 513]`` of 48 kHz audio ``[B, N]`` (N > 512)."""
        padded = F.pad(audio[:, None], (N_FFT // 2, N_FFT // 2), mode="reflect")
        real, imag = self.stft.conv_real(padded), self.stft.conv_imag(padded)
        return (real.square() + imag.square()).transpose(1, 2)


class SlaneyLogMel(nn.Module):
    """torchlibrosa's ``LogmelFilterBank`` (slaney mels, ``ref=1``, ``amin=1e-10``, no top dB); its
    tensor is ``melW`` ``[513, 64]``."""

    def __init__(self) -> None:
        super().__init__()
        self.melW = nn.Parameter(slaney_mel_filterbank(), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, T, 64]`` (dB) of a power spectrogram ``[B, T, 513]``."""
        return power_to_db(power @ self.melW)


class HtkLogMel(nn.Module):
    """torchaudio's ``MelSpectrogram`` (HTK mels, no norm) + ``AmplitudeToDB``, as laion_clap's
    ``get_mel`` computes the fusion models' input; window and filters are derived buffers (not saved)."""

    mel: torch.Tensor
    window: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mel", htk_mel_filterbank(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(
        self,
        audio: torch.Tensor,
        frames_per_block: int = 4096,
        prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Log-mel ``[B, N // 480 + 1, 64]`` (dB) of 48 kHz audio ``[B, N]`` (N > 512).

        Computed in blocks of ``frames_per_block`` frames, each from its own slice of the input, so a
        long clip never holds a padded copy or its whole complex spectrogram; ``prepare`` (an
        elementwise function, e.g. an int16 round trip) is applied to each slice as it is read.
        """
        n = audio.shape[-1]
        total = n // HOP + 1
        blocks = []
        for start in range(0, total, frames_per_block):
            stop = min(total, start + frames_per_block)
            low, high = start * HOP - N_FFT // 2, (stop - 1) * HOP + N_FFT // 2
            # read at least N_FFT samples, so that a one-frame block at either end can be reflected
            read_from, read_to = max(0, min(low, n - N_FFT)), min(n, max(high, N_FFT))
            segment = audio[:, read_from:read_to]
            segment = segment if prepare is None else prepare(segment)
            pad_left, pad_right = max(0, -low), max(0, high - n)
            if pad_left or pad_right:  # the clip's own ends: reflect, as a centred STFT does
                segment = F.pad(segment[:, None], (pad_left, pad_right), mode="reflect")[:, 0]
            skip = low - (read_from - pad_left)
            segment = segment[:, skip : skip + high - low]
            spectrum = torch.stft(segment, N_FFT, HOP, window=self.window, center=False, return_complex=True)
            blocks.append(power_to_db(spectrum.abs().square().transpose(1, 2) @ self.mel))
        return torch.cat(blocks, dim=1)
