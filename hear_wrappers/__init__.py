"""hear-wrappers: modern audio representation models behind the HEAR benchmark API.

Each model is a module with the three HEAR functions (``load_model``, ``get_timestamp_embeddings``,
``get_scene_embeddings``), usable from research code and by ``python -m heareval.embeddings.runner
hear_wrappers.<model>``::

    from hear_wrappers import encodec

    model = encodec.load_model()
    embeddings, timestamps_ms = encodec.get_timestamp_embeddings(audio, model)

Model modules are imported on demand, so ``import hear_wrappers`` stays light and needs none of the
model libraries.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: Model modules and the extra that installs each one's library.
MODELS: dict[str, str] = {
    "encodec": "encodec",
    "crepe": "crepe",
    "soundstream": "soundstream",
    "archisound": "archisound",
    "clap": "clap",
}

__all__ = ["MODELS", "__version__"]


def __getattr__(name: str) -> ModuleType:
    if name in MODELS:
        return importlib.import_module(f"hear_wrappers.{name}")
    raise AttributeError(f"module 'hear_wrappers' has no attribute {name!r}")
