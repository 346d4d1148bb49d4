"""hear-wrappers: modern audio representation models behind the HEAR benchmark API.

Each model is a module with the three HEAR functions (``load_model``, ``get_timestamp_embeddings``,
``get_scene_embeddings``), usable from research code and by ``python -m heareval.embeddings.runner
hear_wrappers.<model>``::

    from hear_wrappers import encodec

    model = encodec.load_model()
    embeddings, timestamps_ms = encodec.get_timestamp_embeddings(audio, model)

Every released checkpoint is also in a registry, by name::

    import hear_wrappers

    hear_wrappers.list_models("clap-*")                 # names
    spec = hear_wrappers.get_spec("encodec-48khz")      # rate, hop, sizes, weights, licence; loads nothing
    model = hear_wrappers.create_model("encodec-48khz", pooling="mean")

Model modules and the registry are imported on demand, so ``import hear_wrappers`` stays light and
needs none of the model libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: The model modules (HEAR entry points), one per model family; see `list_models` for checkpoints.
FAMILIES: tuple[str, ...] = ("archisound", "clap", "combined", "crepe", "encodec", "soundstream")
_REGISTRY_NAMES = ("create_model", "get_spec", "list_models")

__all__ = ["FAMILIES", "__version__", "create_model", "get_spec", "list_models"]


def __getattr__(name: str) -> Any:
    if name in FAMILIES:
        return importlib.import_module(f"hear_wrappers.{name}")
    if name in _REGISTRY_NAMES:
        return getattr(importlib.import_module("hear_wrappers.core.registry"), name)
    raise AttributeError(f"module 'hear_wrappers' has no attribute {name!r}")
