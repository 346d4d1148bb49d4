"""Every registered model as an MTEB audio encoder (MAEB), made from the registry.

``mteb`` 2.x (``pip install 'hear-wrappers[mteb]'``; see docs/suites.md) evaluates any object with an
``encode(inputs: DataLoader, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)``
method and a ``mteb_model_meta``::

    import mteb
    from hear_wrappers.mteb import get_model

    model = get_model("encodec-24khz")               # or pooling="mean", model_file_path=..., device=...
    tasks = mteb.get_benchmark("MAEB(v1, audio-only)")
    results = mteb.evaluate(model, tasks)

Each item mteb hands over is ``{"array", "sampling_rate"}`` at the dataset's rate (a ``datasets.Audio``
column gives a decoder object that answers the same keys). `HearMtebEncoder` mixes it to mono,
resamples it to the model's rate with scipy's polyphase resampler (Kaiser-windowed sinc; never
torchaudio, which mteb's own ``AudioCollator`` uses), and encodes clips of the same length together:
no clip is ever padded to a batch mate, so no padding reaches a clip embedding. (A clip shorter than the
model's shortest input is zero-padded to it, as the HEAR functions require.) The clip embedding is the
model's pooling: by name (``"mean"``, ``"mean+std"``, ``"native"`` for CLAP's own head ...), default the
registry's ``default_pooling``.

`model_meta` fills mteb's ``ModelMeta`` from the registry: name ``hear-wrappers/<registry name>``,
licence, embedding size, sample rate and options (in ``experiment_kwargs``, so that results of other
poolings are kept apart), and a loader, so ``model_meta(name).load_model()`` works where mteb's ``audio``
extra is installed (mteb demands it for any audio model, though this adapter does not use it).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hear_wrappers.core.imports import require
from hear_wrappers.xares.torchaudio_stand_in import while_importing

# mteb imports sentence-transformers (mteb.evaluate imports it on its first call) and so transformers,
# whose audio_utils imports torchaudio at the top when it is installed: a torchaudio wheel built for
# another torch release fails there. Nothing here uses torchaudio, so a stand-in takes its place while
# these are imported, and only then.
with while_importing():
    require("mteb", extra="mteb")
    require("scipy", extra="mteb")
    require("sentence_transformers", extra="mteb")
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ModelMeta

from hear_wrappers import __version__
from hear_wrappers.core.model import HearModel
from hear_wrappers.core.registry import ModelSpec, create_model, get_spec, list_models

__all__ = [
    "NAME_PREFIX",
    "HearMtebEncoder",
    "get_model",
    "model_meta",
    "mteb_license",
    "resample",
    "to_mono",
]

#: Organisation part of the mteb model names: ``hear-wrappers/encodec-24khz``.
NAME_PREFIX = "hear-wrappers/"
#: Most samples (at the model's rate) encoded in one forward pass: 16 clips of 10 s at 48 kHz.
DEFAULT_MAX_BATCH_SAMPLES = 16 * 10 * 48000


def _registry_name(name: str) -> str:
    name = name.removeprefix(NAME_PREFIX)
    get_spec(name)  # a ValueError naming the choices
    return name


def mteb_license(license_text: str) -> str:
    """mteb's licence id for a registry licence text (``"CC BY-NC 4.0"`` -> ``"cc-by-nc-4.0"``).

    Returns:
        one of mteb's ``Licenses`` values; ``"not specified"`` where the text maps to none of them.
    """
    from mteb.types._metadata import Licenses

    known = set(typing.get_args(Licenses))
    head = license_text.split("(")[0].strip().lower()
    candidate = "-".join(head.replace("-", " ").split())
    return candidate if candidate in known else "not specified"


def _framework(spec: ModelSpec) -> list[str]:
    return ["TensorFlow"] if spec.weights.filename.endswith(".tflite") else ["PyTorch"]


def model_meta(
    name: str, *, pooling: str | None = None, n_parameters: int | None = None, **options: Any
) -> ModelMeta:
    """mteb's ``ModelMeta`` of a registered model, from its `ModelSpec` (loads nothing).

    Args:
        name: a registry name (``"encodec-24khz"``) or ``"hear-wrappers/<registry name>"``.
        pooling: the clip embedding (a pooling strategy or ``"native"``); None for the spec's default.
        n_parameters: the model's parameter count, where known (`get_model` counts them).
        **options: the model's ``load_model`` options; they go to the loader and ``experiment_kwargs``.
    """
    spec = get_spec(_registry_name(name))
    chosen = pooling or spec.default_pooling
    experiment = {
        **({"pooling": chosen} if chosen != spec.default_pooling else {}),
        **options,
    }
    return ModelMeta(
        loader=HearMtebEncoder,
        loader_kwargs={**({"pooling": pooling} if pooling else {}), **options},
        name=NAME_PREFIX + spec.name,
        revision=spec.weights.sha256 or spec.weights.hub_revision or __version__,
        release_date=None,
        languages=None,
        n_parameters=n_parameters,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=spec.clip_embedding_size(chosen),
        license=mteb_license(spec.license),
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=_framework(spec),
        reference=spec.weights.url or None,
        similarity_fn_name="cosine",
        use_instructions=False,
        training_datasets=None,
        modalities=["audio"],
        experiment_kwargs=experiment or None,
    )


def to_mono(array: Any) -> np.ndarray:
    """An item's samples as float32 mono ``[samples]``: a list, numpy array or tensor, ``[samples]`` or
    ``[channels, samples]`` (channels averaged, mteb's convention)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    samples = np.asarray(array, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    if samples.ndim != 1:
        raise ValueError(
            f"an audio item must be [samples] or [channels, samples], got shape {samples.shape}."
        )
    return samples


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """``samples`` ``[n]`` from ``rate`` to ``target_rate`` Hz by `scipy.signal.resample_poly`
    (polyphase FIR, Kaiser window beta 5): ``ceil(n * target_rate / rate)`` float32 samples."""
    from scipy.signal import resample_poly

    rate, target_rate = int(rate), int(target_rate)
    if rate <= 0:
        raise ValueError(f"an audio item's sampling_rate must be positive, got {rate}.")
    if rate == target_rate:
        return samples
    divisor = math.gcd(rate, target_rate)
    out = resample_poly(samples.astype(np.float64), target_rate // divisor, rate // divisor)
    return out.astype(np.float32)


class HearMtebEncoder(AbsEncoder):
    """A registered model behind mteb's encoder protocol (``mteb.evaluate(encoder, tasks)``).

    Args:
        model_name: a registry name or ``"hear-wrappers/<registry name>"`` (how mteb's loader calls it).
        revision: accepted for mteb's loader; the weights are the registry's (or ``model_file_path``).
        device: where the model runs (``"cuda"``, ``"cpu"``); None: CUDA when available.
        model_file_path: a local weights file; empty for the official weights.
        pooling: the clip embedding (a pooling strategy or ``"native"``); None for the spec's default.
        max_batch_samples: most samples at the model's rate in one forward pass (clips of one length).
        **options: the model's ``load_model`` options.
    """

    def __init__(
        self,
        model_name: str,
        revision: str | None = None,
        *,
        device: str | None = None,
        model_file_path: str = "",
        pooling: str | None = None,
        max_batch_samples: int = DEFAULT_MAX_BATCH_SAMPLES,
        **options: Any,
    ) -> None:
        name = _registry_name(model_name)
        if max_batch_samples <= 0:
            raise ValueError(f"max_batch_samples must be positive, got {max_batch_samples}.")
        if pooling is not None:
            options["pooling"] = pooling
        self.model: HearModel = create_model(name, model_file_path, **options)
        options.pop("pooling", None)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(device)
        self.max_batch_samples = max_batch_samples
        n_parameters = sum(p.numel() for p in self.model.parameters()) or None
        meta = model_meta(name, pooling=self.model.clip_embedding.name, n_parameters=n_parameters, **options)
        if meta.embed_dim != self.model.scene_embedding_size:  # options that change the frame size
            meta = meta.model_copy(update={"embed_dim": self.model.scene_embedding_size})
        self.mteb_model_meta = meta

    @property
    def sample_rate(self) -> int:
        """Hz of the audio the model takes; every item is resampled to it."""
        return self.model.sample_rate

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Clip embeddings ``[len(clips), scene_embedding_size]`` float32 of mono clips at `sample_rate`.

        Clips of equal length are encoded together (at most ``max_batch_samples`` samples a pass), in
        order of length; none is padded to another's length.
        """
        minimum = self.model.encoder.min_samples
        padded = [np.pad(c, (0, minimum - len(c))) if len(c) < minimum else c for c in clips]
        out = np.empty((len(clips), self.model.scene_embedding_size), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for index, clip in enumerate(padded):
            by_length.setdefault(len(clip), []).append(index)
        for length in sorted(by_length):
            rows = by_length[length]
            per_pass = max(1, self.max_batch_samples // length)
            for start in range(0, len(rows), per_pass):
                part = rows[start : start + per_pass]
                audio = torch.from_numpy(np.stack([padded[i] for i in part]))
                out[part] = self.model.scene_embeddings(audio).cpu().numpy()
        return out

    def encode(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        task_metadata: Any = None,
        hf_split: str = "",
        hf_subset: str = "",
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """mteb's encoder protocol: one clip embedding per audio item, in order.

        Args:
            inputs: mteb's DataLoader; each batch a dict whose ``"audio"`` list holds items with
                ``"array"`` (``[samples]`` or ``[channels, samples]``) and ``"sampling_rate"`` (Hz).
            task_metadata: the task's metadata (only its name is used, in messages).
            hf_split: given by mteb; not used.
            hf_subset: given by mteb; not used.
            prompt_type: given by mteb; not used (audio models take no prompts).
            **kwargs: mteb's encode options (``batch_size``, ``show_progress_bar``); not used.

        Returns:
            float32 ``[n_items, scene_embedding_size]``.

        Raises:
            ValueError: a batch without an ``"audio"`` column (not an audio task).
        """
        parts = []
        for batch in inputs:
            if "audio" not in batch:
                task = getattr(task_metadata, "name", "this task")
                raise ValueError(
                    f"{self.mteb_model_meta.name} embeds audio only, and {task} gives no 'audio' column "
                    f"(columns: {sorted(batch)})."
                )
            clips = [
                resample(to_mono(item["array"]), item["sampling_rate"], self.sample_rate)
                for item in batch["audio"]
            ]
            parts.append(self.embed(clips))
        if not parts:
            return np.empty((0, self.model.scene_embedding_size), dtype=np.float32)
        return np.concatenate(parts)


def get_model(
    name: str,
    model_file_path: str = "",
    *,
    pooling: str | None = None,
    device: str | None = None,
    **options: Any,
) -> HearMtebEncoder:
    """The registered model ``name`` as an mteb encoder; see `HearMtebEncoder`.

    ``list_models()`` (re-exported here) lists the names.
    """
    return HearMtebEncoder(name, device=device, model_file_path=model_file_path, pooling=pooling, **options)


__all__ += ["list_models"]
