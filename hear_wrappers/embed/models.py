"""One forward per clip for every requested variant: `Embedder`.

Variants whose ``load_model`` options differ only in ``pooling`` share one model. For a
hear-wrappers model (a `HearModel`) each batch goes through the encoder once (`HearModel.frames`) and
every frame pooling is computed from those frames; a model's own clip head (``pooling="native"``,
``encoder.embed_clips``) is one more pass, shared by every variant that asks for it. The operations
are those of the model's ``get_scene_embeddings`` / ``get_timestamp_embeddings`` for that pooling, on
the same batch, so values equal the official runner's up to the rounding of batching and threads.
Any other HEAR module (not built on `HearModel`) is run through its own HEAR functions, one model
per variant.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hear_wrappers.core.model import NATIVE_POOLING, ClipEmbedding, HearModel
from hear_wrappers.core.pooling import get_pooling
from hear_wrappers.embed.outputs import EventOutput
from hear_wrappers.embed.plan import Variant

__all__ = ["LONG_BATCH_SAMPLES", "Embedder", "EventOutput", "load_hear_model", "resolve_device"]

#: Samples in a batch of heareval's usual size: its batch size, ``0.7 * (120 / duration) * (16000 /
#: rate)`` clips, holds ``0.7 * 120 * 16000`` samples whatever the clip length and rate, until it floors
#: at one clip. A batch above this holds a long clip (more than 84 s at 16 kHz): `Embedder.embed` then
#: fixes glibc's heap (`hear_wrappers.core.memory.steady_heap`) so that the clip's memory stays at a
#: chunk's; below it, glibc's default is kept, which serves the repeated activations of heareval-sized
#: batches with fewer page faults (about 8 % faster CREPE tiny forwards here on 84 x 1 s batches).
LONG_BATCH_SAMPLES = int(0.7 * 120 * 16000)


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"``: ``"cuda"`` if torch sees a GPU, else ``"cpu"`` (heareval's choice)."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    torch.device(device)  # a malformed name raises here, with torch's message
    return device


def load_hear_model(module: Any, model_file: str | None, options: dict[str, Any]) -> Any:
    """``module.load_model`` as heareval calls it: the weights file positionally when given."""
    if model_file:
        return module.load_model(model_file, **options)
    return module.load_model(**options)


@dataclass
class _Group:
    model: Any
    variants: list[Variant]
    shared: bool  # a HearModel: one forward for all variants


class Embedder:
    """The models of one module for a set of variants, embedding batches for all of them at once.

    Args:
        module: the HEAR module's import name.
        model_file: weights file for ``load_model`` (heareval's ``--model``), or None.
        variants: the output folders to compute.
        device: torch device for the models; None for heareval's choice (CUDA when available).

    Raises:
        ValueError: a pooling the model cannot do (unknown name, or ``native`` without a clip head).
    """

    def __init__(
        self, module: str, model_file: str | None, variants: Sequence[Variant], device: str | None = None
    ) -> None:
        self.module_name = module
        self.module = importlib.import_module(module)
        self.device = resolve_device(device)
        self.groups: list[_Group] = []
        by_key: dict[str, list[Variant]] = {}
        for variant in variants:
            by_key.setdefault(variant.model_key, []).append(variant)
        for group in by_key.values():
            model = load_hear_model(self.module, model_file, group[0].options)
            if isinstance(model, torch.nn.Module):
                model.to(self.device)
            if isinstance(model, HearModel):
                for variant in group:
                    _check_pooling(model, variant)
                self.groups.append(_Group(model, group, shared=True))
            else:
                self.groups.append(_Group(model, [group[0]], shared=False))
                for variant in group[1:]:
                    other = load_hear_model(self.module, model_file, variant.options)
                    if isinstance(other, torch.nn.Module):
                        other.to(self.device)
                    self.groups.append(_Group(other, [variant], shared=False))
        rates = {int(group.model.sample_rate) for group in self.groups}
        if len(rates) != 1:
            raise ValueError(
                f"the variants of {module} take audio at different rates {sorted(rates)}: run them "
                f"separately (one sample rate per run)."
            )
        self.sample_rate: int = rates.pop()

    def embed(
        self, audio: np.ndarray, embedding_type: str, folders: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray | EventOutput], float]:
        """Embed one batch for the variants named in ``folders`` (all when None).

        Args:
            audio: ``[B, N]`` float32 samples at `sample_rate`.
            embedding_type: ``"scene"`` (one ``[B, D]`` array per variant) or ``"event"`` (an
                `EventOutput` per variant; variants of one model share the same object, as frames do
                not depend on the pooling).
            folders: the variants' folder names to compute.

        Returns:
            ``({folder name: output}, seconds spent in the models)``.
        """
        if audio.size > LONG_BATCH_SAMPLES:
            from hear_wrappers.core.memory import steady_heap

            steady_heap()  # long clips stay at a chunk's memory (once per process)
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if not audio.flags.writeable:  # e.g. a zero-copy array from Ray's object store
            audio = audio.copy()
        tensor = torch.from_numpy(audio)
        outputs: dict[str, np.ndarray | EventOutput] = {}
        start = time.perf_counter()
        with torch.no_grad():
            for group in self.groups:
                wanted = [v for v in group.variants if folders is None or v.folder_name in folders]
                if not wanted:
                    continue
                if embedding_type == "event":
                    event = self._event(group, tensor)
                    outputs.update((variant.folder_name, event) for variant in wanted)
                elif group.shared:
                    outputs.update(_shared_scene(group.model, tensor, wanted))
                else:
                    scene = self.module.get_scene_embeddings(tensor.to(self.device), group.model)
                    outputs[wanted[0].folder_name] = scene.detach().cpu().numpy()
        return outputs, time.perf_counter() - start

    def _event(self, group: _Group, tensor: torch.Tensor) -> EventOutput:
        if group.shared:
            embeddings, timestamps = group.model.timestamp_embeddings(tensor)
        else:
            embeddings, timestamps = self.module.get_timestamp_embeddings(tensor.to(self.device), group.model)
        return EventOutput(embeddings.detach().cpu().numpy(), timestamps.detach().cpu().numpy())


def _check_pooling(model: HearModel, variant: Variant) -> None:
    """Refuse a pooling the model cannot do, as its ``load_model(pooling=...)`` would."""
    if variant.pooling is not None:
        try:
            ClipEmbedding.choose(model.encoder, variant.pooling)
        except ValueError as error:
            raise ValueError(f"{variant.folder_name}: {error}") from None


def _shared_scene(model: HearModel, audio: torch.Tensor, variants: list[Variant]) -> dict[str, np.ndarray]:
    """One encoder pass (and one clip-head pass if asked) for every variant's scene embedding."""
    names = {variant.folder_name: variant.pooling or model.clip_embedding.name for variant in variants}
    pooled: dict[str, torch.Tensor] = {}
    if any(name != NATIVE_POOLING for name in names.values()):
        frames = model.frames(audio)
        for name in set(names.values()) - {NATIVE_POOLING}:
            pooled[name] = get_pooling(name)(frames)
    if NATIVE_POOLING in names.values():
        pooled[NATIVE_POOLING] = model.native_clip_embeddings(audio)
    return {folder: pooled[name].detach().cpu().numpy() for folder, name in names.items()}
