"""A drop-in, resumable, parallel replacement for heareval's embeddings runner.

``python -m hear_wrappers.embed MODULE [heareval's options] --poolings mean,max,mean+std --workers N``
writes, for every (``--model-options`` x pooling), the folder heareval 2021.1.3's
``heareval.embeddings.runner`` writes for the same module and options: the same file names, labels,
dimensions, row order and timestamps byte for byte, and embeddings equal up to float32 rounding. The
official predictions runner scores them unchanged. Unlike the official runner it:

* runs each clip through the encoder once for all poolings (`hear_wrappers.embed.models`);
* resumes: results are written per clip, atomically, and a new run redoes only missing clips
  (`hear_wrappers.embed.writer`);
* runs on a Ray cluster (``pip install 'hear-wrappers[distributed]'``): a local one by default, an
  existing one with ``--address`` (`hear_wrappers.embed.distributed`), or in this process with
  ``--workers 0``.

See docs/scale.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hear_wrappers.embed.audio import AudioError
    from hear_wrappers.embed.plan import Variant, make_variants, options_slug, read_task
    from hear_wrappers.embed.runner import EmbedReport, TaskSummary, embed

# Imported on first use, so that importing one sub-module (e.g. the audio decoding, in a Ray worker)
# does not import the others.
_EXPORTS = {
    "AudioError": "hear_wrappers.embed.audio",
    "EmbedReport": "hear_wrappers.embed.runner",
    "TaskSummary": "hear_wrappers.embed.runner",
    "Variant": "hear_wrappers.embed.plan",
    "embed": "hear_wrappers.embed.runner",
    "make_variants": "hear_wrappers.embed.plan",
    "options_slug": "hear_wrappers.embed.plan",
    "read_task": "hear_wrappers.embed.plan",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hear_wrappers.embed' has no attribute {name!r}")


__all__ = [
    "AudioError",
    "EmbedReport",
    "TaskSummary",
    "Variant",
    "embed",
    "make_variants",
    "options_slug",
    "read_task",
]
