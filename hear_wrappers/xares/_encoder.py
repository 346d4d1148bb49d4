"""The X-ARES encoder around a registered model: audio ``[B, N]`` -> frames ``[B, T, D]``.

X-ARES (``xares`` 0.1.3) zero-pads every encoding batch to its longest clip and passes no lengths
(``xares/task.py`` drops them), stores each clip's whole ``[T_batch, D]`` row, and for clip-level tasks
averages all ``T_batch`` stored frames (``xares/trainer.py`` ``masked_mean`` with the stored length). A
clip's X-ARES embedding would then depend on its batch mates. `XaresAdapter` therefore finds each clip's
real end (its last non-zero sample: X-ARES pads with exact zeros), encodes each clip at its own length
(clips of equal length in one batch), and, with ``padding="mean"`` (the default), fills the frames past
the end with the mean of the clip's own frames, so that X-ARES's average over ``T_batch`` frames is the
clip's own mean. ``padding="zeros"`` passes X-ARES's padded batch through unchanged (the model's frames of
the zeros), which suits X-ARES's frame tasks (DESED), where frames past a clip's end are labelled "no
event". See docs/suites.md. The public names are `hear_wrappers.xares`'s (see its ``__all__``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

#: Environment variable: a local weights file for the model (default: the official weights).
ENV_MODEL_FILE = "HEAR_WRAPPERS_XARES_MODEL_FILE"
#: Environment variable: the model's ``load_model`` options as a JSON object, e.g. ``{"hop_ms": 10}``.
ENV_OPTIONS = "HEAR_WRAPPERS_XARES_OPTIONS"
#: Environment variable: what the frames past a clip's real end hold, one of `PADDING_MODES`.
ENV_PADDING = "HEAR_WRAPPERS_XARES_PADDING"
#: ``"mean"``: the mean of the clip's own frames (X-ARES's clip average is the clip's own mean);
#: ``"zeros"``: X-ARES's behaviour, the model's frames of the zero padding.
PADDING_MODES = ("mean", "zeros")


def class_name(registry_name: str) -> str:
    """The X-ARES class name of a registered model: ``"encodec-24khz"`` -> ``"Encodec24khzEncoder"``.

    X-ARES names its embedding and checkpoint folders after the class, so each model gets its own.
    """
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", registry_name) if part]
    return "".join(part[:1].upper() + part[1:] for part in parts) + "Encoder"


def real_lengths(audio: torch.Tensor) -> torch.Tensor:
    """Length of each clip of a zero-padded batch ``[B, N]``: one past its last non-zero sample.

    Returns:
        int64 ``[B]`` on ``audio``'s device; 0 for an all-zero clip. Digital silence at the very end of
        a clip cannot be told from padding and counts as padding.
    """
    positions = torch.arange(1, audio.shape[1] + 1, device=audio.device)
    return ((audio != 0) * positions).amax(dim=1)


def _options_from_env() -> dict[str, Any]:
    text = os.environ.get(ENV_OPTIONS, "").strip()
    if not text:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{ENV_OPTIONS} must be a JSON object of load_model options, e.g. '{{\"hop_ms\": 10}}', "
            f"got {text!r}: {error}."
        ) from None
    if not isinstance(options, dict):
        raise ValueError(f"{ENV_OPTIONS} must be a JSON object (a dict), got {text!r}.")
    return options


class XaresAdapter(nn.Module):
    """A registered model as an X-ARES audio encoder (subclassed once per model as ``<Name>Encoder``).

    X-ARES builds the encoder with no arguments; the arguments here default to environment variables
    (read in the X-ARES worker processes too):

    Args:
        model_file_path: a local weights file; None reads ``HEAR_WRAPPERS_XARES_MODEL_FILE`` (empty or
            unset: the official weights, downloaded on first use).
        padding: ``"mean"`` or ``"zeros"``, see the module docstring; None reads
            ``HEAR_WRAPPERS_XARES_PADDING`` (unset: ``"mean"``).
        **options: the model's ``load_model`` options; none given reads ``HEAR_WRAPPERS_XARES_OPTIONS``
            (a JSON object).

    Attributes (what X-ARES reads):
        sampling_rate: Hz of the audio X-ARES must pass (X-ARES resamples to it): the model's HEAR rate.
        output_dim: size of each frame.
        hop_size_in_ms: the model's true frame hop in ms (a float, e.g. 13.333 for EnCodec 24 kHz), with
            the chosen options; X-ARES turns event times into frame indices with it.
    """

    #: The registry name of the model; set by each generated subclass.
    registry_name: ClassVar[str] = ""

    def __init__(
        self, model_file_path: str | None = None, *, padding: str | None = None, **options: Any
    ) -> None:
        super().__init__()
        if not self.registry_name:
            raise TypeError(
                "XaresAdapter is a base class: use a model's encoder, e.g. "
                "hear_wrappers.xares.encoder_class('encodec-24khz')()."
            )
        from hear_wrappers.core.registry import create_model

        if model_file_path is None:
            model_file_path = os.environ.get(ENV_MODEL_FILE, "")
        if padding is None:
            padding = os.environ.get(ENV_PADDING, "").strip() or "mean"
        if padding not in PADDING_MODES:
            raise ValueError(
                f"padding must be one of {PADDING_MODES} (or set {ENV_PADDING}), got {padding!r}."
            )
        if not options:
            options = _options_from_env()
        self.padding = padding
        self.model = create_model(self.registry_name, model_file_path, **options)
        timing = self.model.encoder.timing
        self.sampling_rate: int = self.model.sample_rate
        self.output_dim: int = self.model.timestamp_embedding_size
        self.hop_size_in_ms: float = timing.hop_ms

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Frames of a zero-padded batch, as X-ARES calls the encoder.

        Args:
            audio: ``[B, N]`` (or one clip ``[N]``) float mono audio at `sampling_rate`, on any device;
                clips shorter than ``N`` are followed by exact zeros (X-ARES's padding).

        Returns:
            float32 ``[B, T, output_dim]`` on ``audio``'s device, ``T`` the number of frames whose centre
            lies within ``N`` samples. With ``padding="mean"`` the frames up to each clip's own end are
            the clip encoded alone, and the rest repeat their mean.
        """
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        device = audio.device
        audio = audio.float()
        n_samples = max(audio.shape[1], self.model.encoder.min_samples)
        audio = F.pad(audio, (0, n_samples - audio.shape[1]))
        if self.padding == "zeros":
            return self.model.frames(audio).to(device)
        n_frames = self.model.encoder.timing.frames_within(n_samples)
        lengths = real_lengths(audio).clamp(min=self.model.encoder.min_samples).tolist()
        out: torch.Tensor | None = None
        for length in sorted(set(lengths)):
            rows = [i for i, n in enumerate(lengths) if n == length]
            frames = self.model.frames(audio[rows, :length])
            if out is None:
                out = frames.new_empty(audio.shape[0], n_frames, frames.shape[2])
            index = torch.tensor(rows, device=frames.device)
            own = min(frames.shape[1], n_frames)
            out[index, :own] = frames[:, :own]
            out[index, own:] = frames.mean(dim=1, keepdim=True)
        assert out is not None  # at least one clip
        return out.to(device)

    def extra_repr(self) -> str:
        return (
            f"model={self.registry_name!r}, sampling_rate={self.sampling_rate}, "
            f"hop_size_in_ms={self.hop_size_in_ms:.4f}, output_dim={self.output_dim}, "
            f"padding={self.padding!r}"
        )
