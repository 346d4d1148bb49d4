"""Checkpoint resolution: local files, the verified download cache, offline errors, safe loading."""

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointUnavailableError,
    cache_dir,
    load_matching_weights,
    load_state_dict,
    resolve_checkpoint,
)


class Exotic:
    """Not a tensor: must never be unpickled from a weights file."""


@pytest.fixture
def weights_file(tmp_path) -> Path:
    path = tmp_path / "source" / "tiny-model.th"
    path.parent.mkdir()
    torch.save(nn.Linear(3, 2).state_dict(), path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(folder))
    return folder


def spec_for(path: Path, sha256: str | None = None) -> Checkpoint:
    digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    return Checkpoint(name="tiny", url=path.as_uri(), sha256=digest, license="test")


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("HEAR_WRAPPERS_CACHE", raising=False)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert cache_dir() == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_local_file_is_used_as_is(weights_file, cache):
    spec = spec_for(weights_file, sha256="00000000")  # the checksum is for downloads only
    assert resolve_checkpoint(spec, str(weights_file)) == weights_file
    assert not cache.exists()


def test_missing_local_file_says_where_to_get_the_weights(tmp_path, weights_file):
    with pytest.raises(CheckpointUnavailableError, match=r"is not a file.*official download: file:"):
        resolve_checkpoint(spec_for(weights_file), str(tmp_path / "nope.th"))


def test_download_is_verified_cached_and_reused(weights_file, cache):
    spec = spec_for(weights_file)
    path = resolve_checkpoint(spec, progress=False)
    assert path == cache / "tiny-model.th" and path.read_bytes() == weights_file.read_bytes()
    weights_file.unlink()  # the source is gone: the cache must serve
    assert resolve_checkpoint(spec, progress=False) == path
    assert [p.name for p in cache.iterdir()] == ["tiny-model.th"]  # no partial files left


def test_prefix_checksum_like_torch_hub_names(weights_file, cache):
    prefix = hashlib.sha256(weights_file.read_bytes()).hexdigest()[:8]
    assert resolve_checkpoint(spec_for(weights_file, prefix), progress=False).is_file()


def test_wrong_checksum_download_is_refused_and_not_cached(weights_file, cache):
    with pytest.raises(CheckpointError, match="expected deadbeef"):
        resolve_checkpoint(spec_for(weights_file, "deadbeef"), progress=False)
    assert not any(cache.iterdir())


def test_corrupted_cached_file_is_refused(weights_file, cache):
    spec = spec_for(weights_file)
    cache.mkdir()
    (cache / "tiny-model.th").write_bytes(b"not the weights")
    with pytest.raises(CheckpointError, match="Delete it"):
        resolve_checkpoint(spec, progress=False)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/tiny-model.th", "file:///no/such/tiny-model.th"])
def test_offline_with_empty_cache_says_what_to_download_and_where(cache, url):
    spec = Checkpoint(name="tiny", url=url, sha256="deadbeef", license="test")
    with pytest.raises(CheckpointUnavailableError) as caught:
        resolve_checkpoint(spec, progress=False)
    message = str(caught.value)
    assert url in message
    assert str(cache / "tiny-model.th") in message
    assert "model_file_path" in message
    assert not cache.exists() or not any(cache.iterdir())


def test_load_state_dict_reads_tensors(weights_file):
    state = load_state_dict(weights_file, what="tiny")
    assert set(state) == {"weight", "bias"}


def test_truncated_file_is_a_clear_error(weights_file, tmp_path):
    broken = tmp_path / "broken.th"
    broken.write_bytes(weights_file.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_state_dict(broken, what="tiny")


def test_arbitrary_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.th"
    torch.save({"weight": torch.zeros(1), "hook": Exotic()}, path)
    with pytest.raises(CheckpointError, match="will not unpickle"):
        load_state_dict(path, what="tiny")


def test_non_state_dict_is_refused(tmp_path):
    path = tmp_path / "tensor.th"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_state_dict(path, what="tiny")


def test_mismatch_lists_missing_unexpected_and_shapes():
    module = nn.Linear(3, 2)
    state = {"weight": torch.zeros(2, 4), "extra.thing": torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError) as caught:
        load_matching_weights(module, state, what="tiny", hint="Try the other file.")
    message = str(caught.value)
    assert "missing: bias" in message and "unexpected: extra.thing" in message
    assert "weight: file (2, 4) vs model (2, 3)" in message and message.endswith("other file.")


def test_ignored_prefixes_and_a_good_load():
    module = nn.Linear(3, 2)
    state = {"weight": torch.ones(2, 3), "bias": torch.ones(2), "text.x": torch.zeros(1)}
    load_matching_weights(module, state, what="tiny", ignore_unexpected=("text.",))
    assert torch.equal(module.weight, torch.ones(2, 3))


def test_training_checkpoints_nest_their_state_dict(tmp_path):
    """{"epoch", "state_dict", "optimizer"} files (laion_clap, Lightning) give the nested tensors."""
    state = {"module.layer.weight": torch.ones(2, 2)}
    optimizer = {
        "state": {0: {"step": torch.tensor(3.0)}},
        "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99)}],
    }
    path = tmp_path / "epoch_45.pt"
    torch.save({"epoch": 45, "name": "run", "state_dict": state, "optimizer": optimizer}, path)
    loaded = load_state_dict(path, what="test")
    assert list(loaded) == ["module.layer.weight"]
    with pytest.raises(CheckpointError, match="holds no tensors"):
        load_state_dict(path, what="test", container_keys=())


@pytest.mark.parametrize("legacy", [False, True])
def test_mmap_loads_zip_files_lazily_and_legacy_files_normally(tmp_path, legacy):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.arange(6.0)}, path, _use_new_zipfile_serialization=not legacy)
    loaded = load_state_dict(path, what="test", mmap=True)
    assert torch.equal(loaded["w"], torch.arange(6.0))


@pytest.mark.parametrize("content", [b"not a checkpoint", b"PK\x03\x04 truncated zip"])
def test_mmap_keeps_the_clear_errors(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as plain:
        load_state_dict(path, what="test")
    with pytest.raises(CheckpointError) as mapped:
        load_state_dict(path, what="test", mmap=True)
    assert str(mapped.value) == str(plain.value)
