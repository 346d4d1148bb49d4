"""HearModel: the shared HEAR functions around any FrameEncoder (checked with a toy encoder)."""

import pytest
import torch

from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import (
    NATIVE_POOLING,
    FrameEncoder,
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
)


class BlockEnergy(FrameEncoder):
    """Frames: mean and RMS of consecutive 100-sample blocks at 16 kHz (centres 50 + 100 k)."""

    def __init__(self, clip_embedding: bool = False) -> None:
        super().__init__()
        self.timing = FrameTiming(16000, 100.0, 50.0)
        self.embedding_size = 2
        self.min_samples = 100
        if clip_embedding:
            self.clip_embedding_size = 3

    def num_frames(self, n_samples: int) -> int:
        return n_samples // 100

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        blocks = audio[:, : self.num_frames(audio.shape[1]) * 100].reshape(audio.shape[0], -1, 100)
        return torch.stack([blocks.mean(-1), blocks.square().mean(-1).sqrt()], dim=-1)

    def embed_clips(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.stack([audio.mean(1), audio.amax(1), audio.amin(1)], dim=1)


def test_pooling_strategies_pool_the_frames():
    model = HearModel(BlockEnergy(), pooling="mean+max")
    audio = torch.linspace(-1, 1, 1000)[None].repeat(2, 1)
    frames, timestamps = get_timestamp_embeddings(audio, model)
    assert frames.shape == (2, 10, 2)
    assert torch.allclose(timestamps[0], 50 / 16 + torch.arange(10.0) * 100 / 16)
    scene = get_scene_embeddings(audio, model)
    assert torch.allclose(scene, torch.cat([frames.mean(1), frames.amax(1)], dim=1))
    assert model.scene_embedding_size == 4


def test_native_pooling_uses_the_models_own_clip_embedding():
    model = HearModel(BlockEnergy(clip_embedding=True), pooling=NATIVE_POOLING)
    audio = torch.randn(3, 1000)
    scene = get_scene_embeddings(audio, model)
    assert model.scene_embedding_size == 3 and scene.shape == (3, 3)
    assert torch.allclose(scene[:, 1], audio.amax(1))
    with pytest.raises(ValueError, match="2-D"):  # the input checks still apply
        get_scene_embeddings(audio[0], model)
    assert model.clip_embedding.is_native and model.pooling is None  # an explicit choice, no fake pooling
    assert model.clip_embedding.name == NATIVE_POOLING


def test_a_pooling_is_the_other_explicit_choice():
    model = HearModel(BlockEnergy(clip_embedding=True), pooling="mean+std")
    assert not model.clip_embedding.is_native and model.pooling.name == "mean+std"
    assert model.scene_embedding_size == 4
    audio = torch.randn(2, 1000)
    # the model's own head stays reachable beside the pooling (one forward per path)
    assert torch.allclose(model.native_clip_embeddings(audio)[:, 1], audio.amax(1))


def test_native_pooling_needs_a_model_that_has_one():
    with pytest.raises(ValueError, match="has none: choose a pooling strategy"):
        HearModel(BlockEnergy(), pooling=NATIVE_POOLING)
