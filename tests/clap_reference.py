"""References for tests/test_clap.py: laion_clap 1.1.7's own HTS-AT, and its audio preprocessing
re-written in a few lines of numpy.

`laion_htsat` loads ``laion_clap/clap_module/htsat.py`` (and the two sibling files it imports) from
the installed package *without* running ``laion_clap/__init__.py`` or ``clap_module/__init__.py``,
which import transformers, torchvision, webdataset and more. ``clap_module/utils.py`` imports
``torchvision.ops.misc.FrozenBatchNorm2d`` and ``h5py`` at top level for parts HTS-AT never uses:
placeholders stand in for them during that import only, and ``sys.modules`` is put back as it was
(no fake torchvision is left behind for other tests).

laion_clap's preprocessing lives in ``training/data.py``, which imports torchaudio, torchvision and
webdataset, so it cannot be loaded here; the functions below mirror the lines that
``CLAP_Module.get_audio_embedding_from_data`` (``hook.py``) runs, citing them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "fusion_input",
    "htk_log_mel",
    "laion_htsat",
    "laion_model_config",
    "middle_starts",
    "quantize",
    "repeatpad",
]

_ALIAS = "_clap_reference_laion_clap_module"
_STAND_INS = ("torchvision", "torchvision.ops", "torchvision.ops.misc", "h5py")

SAMPLE_RATE, MAX_LEN, HOP, N_FFT, N_MELS = 48000, 480000, 480, 1024, 64
CHUNK_FRAMES = MAX_LEN // HOP + 1  # data.py line 423: 1001


def _clap_module_folder() -> Path:
    spec = importlib.util.find_spec("laion_clap")  # locates the folder; runs nothing
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("laion_clap is not installed", name="laion_clap")
    return Path(next(iter(spec.submodule_search_locations))) / "clap_module"


def _stand_in(name: str) -> types.ModuleType:
    module = types.ModuleType(name, "clap_reference placeholder: never used by HTS-AT")
    module.__path__ = []  # a package, so that 'torchvision.ops.misc' can be imported through it

    class FrozenBatchNorm2d:  # utils.py imports it for freeze_batch_norm_2d, which HTS-AT never calls
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("clap_reference's torchvision placeholder cannot build FrozenBatchNorm2d")

    module.FrozenBatchNorm2d = FrozenBatchNorm2d
    return module


@functools.cache
def laion_htsat() -> types.ModuleType:
    """laion_clap's ``clap_module/htsat.py`` module (``create_htsat_model``, ``HTSAT_Swin_Transformer``).

    Raises:
        ModuleNotFoundError: laion_clap, or torchlibrosa (which htsat.py imports), is not installed.
    """
    folder = _clap_module_folder()
    before = {name: sys.modules.get(name) for name in (*_STAND_INS, _ALIAS)}
    placed = [name for name in _STAND_INS if name not in sys.modules]
    for name in placed:
        sys.modules[name] = _stand_in(name)
    shell = types.ModuleType(_ALIAS, "laion_clap/clap_module loaded without its __init__")
    shell.__path__ = [str(folder)]
    sys.modules[_ALIAS] = shell
    try:
        return importlib.import_module(f"{_ALIAS}.htsat")
    finally:
        for name in [n for n in sys.modules if n == _ALIAS or n.startswith(_ALIAS + ".")]:
            del sys.modules[name]  # the returned module keeps what it needs alive
        for name, module in before.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def laion_model_config(size: str) -> dict:
    """laion_clap's own ``model_configs/HTSAT-<size>.json``: ``embed_dim`` (the audio embedding's
    width) and ``audio_cfg`` (what ``create_htsat_model`` reads, as attributes)."""
    return json.loads((_clap_module_folder() / "model_configs" / f"HTSAT-{size}.json").read_text())


# --------------------------------------------------------------------------------------------------
# laion_clap's preprocessing (training/data.py and hook.py of laion_clap 1.1.7), in numpy


def quantize(audio: np.ndarray) -> np.ndarray:
    """hook.py line 177 ``int16_to_float32(float32_to_int16(audio_waveform))`` with data.py lines
    93-99: ``(np.clip(x, -1, 1) * 32767.).astype(np.int16)``, then ``(x / 32767.0).astype(np.float32)``."""
    steps = (np.clip(audio.astype(np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)
    return (steps / 32767.0).astype(np.float32)


def repeatpad(audio: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """data.py lines 471-482 (``data_filling="repeatpad"``) for one clip ``[n]``, n <= max_len:
    ``n_repeat = int(max_len / len)``; ``audio.repeat(n_repeat)``; zero-pad to ``max_len``."""
    if len(audio) == max_len:  # "do nothing if equal"
        return audio
    n_repeat = int(max_len / len(audio))
    repeated = np.tile(audio, n_repeat)
    return np.pad(repeated, (0, max_len - len(repeated)))


@functools.cache
def _htk_filters() -> np.ndarray:
    import librosa

    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=50, fmax=14000, htk=True, norm=None, dtype=np.float64
    ).T


def htk_log_mel(audio: np.ndarray) -> np.ndarray:
    """data.py ``get_mel`` (lines 363-399) for one clip ``[n]``: torchaudio's ``MelSpectrogram(
    n_fft=1024, hop=480, centred, reflect padding, power 2, HTK mel without norm, 50-14000 Hz)``
    then ``AmplitudeToDB(top_db=None)``, i.e. ``10 log10(max(mel, 1e-10))``; ``[n // 480 + 1, 64]``
    float64, from numpy's FFT with a periodic Hann window (torch.hann_window's default) and librosa's
    HTK filters (the librosa call that get_mel's comment quotes)."""
    padded = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")
    n_frames = len(audio) // HOP + 1
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    frames = padded[np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return 10.0 * np.log10(np.maximum(power @ _htk_filters(), 1e-10))


def middle_starts(total_frames: int, chunk_frames: int = CHUNK_FRAMES) -> tuple[list[int], tuple[int, ...]]:
    """data.py lines 433-447 draw one start from each of ``np.array_split(range(total - chunk + 1),
    3)`` (an empty range replaced by ``[0]``). Returns the three ranges as laion_clap lists them and the
    middle element of each, computed from the split sizes (the first ``n % 3`` parts hold one more)."""
    n = total_frames - chunk_frames + 1
    sizes = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
    firsts = [sum(sizes[:i]) for i in range(3)]
    ranges = [list(range(f, f + s)) or [0] for f, s in zip(firsts, sizes, strict=True)]
    middles = tuple(f + s // 2 if s else 0 for f, s in zip(firsts, sizes, strict=True))
    return ranges, middles


def fusion_input(mel: np.ndarray, starts: tuple[int, ...]) -> torch.Tensor:
    """data.py lines 449-458 for a clip's log-mel ``[T, 64]`` (T > 1001): the whole mel shrunk to
    ``[1001, 64]`` and three 1001-frame crops at ``starts``, stacked ``[4, 1001, 64]`` float32.

    The shrink is ``torchvision.transforms.Resize([1001, 64])`` on a ``[1, T, 64]`` tensor: bilinear,
    ``align_corners=False``, no antialiasing (the tensor default of the torchvision releases of
    laion_clap's time; torchvision >= 0.17 antialiases by default), i.e. ``F.interpolate``.
    """
    tensor = torch.from_numpy(mel).float()
    shrunk = torch.nn.functional.interpolate(
        tensor[None, None], size=(CHUNK_FRAMES, N_MELS), mode="bilinear", align_corners=False
    )[0, 0]
    crops = [tensor[s : s + CHUNK_FRAMES] for s in starts]
    return torch.stack([shrunk, *crops])
