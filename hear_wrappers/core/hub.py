"""Weights kept in Hugging Face hub repositories: pinned files, the hub's own cache, local overrides.

Some official weights live in a hub repository rather than at a plain URL (archisound, LAION-CLAP).
A `HubFile` names one file at one commit; `resolve_hub_file` turns it into a local path:

* ``model_file_path`` given: that file, or the file inside that folder (a snapshot of the repository,
  as ``huggingface_hub`` lays it out);
* otherwise ``huggingface_hub.hf_hub_download`` at the pinned commit, into the hub's own cache
  (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``) or, when ``$HEAR_WRAPPERS_CACHE``
  is set, into ``$HEAR_WRAPPERS_CACHE/huggingface``. The cache stores large files under their sha256
  (the hub's LFS object id), so the file is checked against that name before use.

``huggingface_hub`` is only imported for the download; a missing install raises `MissingExtraError`
naming the model's extra.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hear_wrappers.core.checkpoints import CheckpointError, CheckpointUnavailableError, sha256_of
from hear_wrappers.core.imports import require

__all__ = ["HubFile", "resolve_hub_file"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class HubFile:
    """A weights file in a Hugging Face hub repository, pinned to one commit.

    Attributes:
        repo_id: ``owner/name`` on the hub.
        revision: the full commit hash the file is taken from (a commit's files never change).
        filename: path of the file in the repository.
        license: licence of the weights, as far as published sources say.
    """

    repo_id: str
    revision: str
    filename: str
    license: str

    @property
    def url(self) -> str:
        """Direct download address of the file at the pinned commit."""
        return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision}/{self.filename}"


def resolve_hub_file(
    hub: HubFile,
    model_file_path: str | os.PathLike[str] = "",
    *,
    what: str,
    extra: str,
    progress: bool = True,
) -> Path:
    """Local path of ``hub``'s file: ``model_file_path`` if given, else the hub cache's copy.

    Args:
        hub: the official file.
        model_file_path: a local weights file, or a folder holding ``hub.filename`` (a snapshot);
            empty for the official file (downloaded on first use).
        what: the model, for messages (e.g. ``"dmae1d-ATC64-v1"``).
        extra: the hear-wrappers extra that installs ``huggingface_hub``, for the error message.
        progress: show the hub's download progress bar.

    Raises:
        CheckpointUnavailableError: no such file or folder, or not cached and not downloadable.
        CheckpointError: the cached file does not match its sha256.
        MissingExtraError: ``huggingface_hub`` is not installed (only needed for the download).
    """
    if model_file_path:
        path = Path(model_file_path).expanduser()
        if path.is_dir():
            if (path / hub.filename).is_file():
                return path / hub.filename
            raise CheckpointUnavailableError(
                f"folder {str(path)!r} has no {hub.filename}: pass a snapshot folder of {hub.repo_id} "
                f"(as huggingface_hub downloads it) or the weights file itself ({hub.url})."
            )
        if not path.is_file():
            raise CheckpointUnavailableError(
                f"model_file_path {str(path)!r} is not a file or folder. Pass the {what} weights "
                f"({hub.url}), or an empty string to use the official weights from the cache."
            )
        return path

    hf = require("huggingface_hub", extra=extra)
    bars = require("huggingface_hub.utils", extra=extra)
    override = os.environ.get("HEAR_WRAPPERS_CACHE")
    cache = Path(override).expanduser() / "huggingface" if override else None
    quiet = not progress and not bars.are_progress_bars_disabled()
    if quiet:
        bars.disable_progress_bars()
    try:
        local = Path(hf.hf_hub_download(hub.repo_id, hub.filename, revision=hub.revision, cache_dir=cache))
    except (OSError, ValueError) as error:
        raise CheckpointUnavailableError(
            f"{what} weights are not cached and could not be downloaded from the Hugging Face hub "
            f"({type(error).__name__}: {error}). On a machine without internet access, download "
            f"{hub.url} elsewhere and pass its path as load_model(model_file_path=...), or copy a "
            f"snapshot of {hub.repo_id} at commit {hub.revision} into the hub cache."
        ) from error
    finally:
        if quiet:
            bars.enable_progress_bars()
    blob = local.resolve()
    if _SHA256.fullmatch(blob.name):  # the cache names LFS files by their sha256
        digest = sha256_of(blob)
        if digest != blob.name:
            raise CheckpointError(
                f"cached file {blob} has sha256 {digest}, but the hub published {blob.name}: the file is "
                f"corrupt. Delete it to download it again from {hub.url}."
            )
    return local
