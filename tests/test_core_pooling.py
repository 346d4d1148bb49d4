"""The pooling registry: built-in strategies, their sizes, and user registration."""

import pytest
import torch

from hear_wrappers.core.pooling import available_poolings, get_pooling, register_pooling


@pytest.fixture
def frames():
    return torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("name", "size"), [("mean", 5), ("max", 5), ("mean+max", 10), ("mean+std", 10)])
def test_builtin_output_sizes(frames, name, size):
    pooling = get_pooling(name)
    assert pooling.output_size(5) == size
    assert pooling(frames).shape == (3, size)


def test_builtin_values(frames):
    torch.testing.assert_close(get_pooling("mean")(frames), frames.mean(1))
    torch.testing.assert_close(get_pooling("max")(frames), frames.max(1).values)
    stats = get_pooling("mean+std")(frames)
    torch.testing.assert_close(stats[:, 5:], frames.std(1, correction=0))


def test_mean_std_separates_clips_that_mean_pooling_confuses():
    # A steady frame versus a clip that alternates around the same average.
    steady = torch.ones(1, 8, 4)
    moving = torch.ones(1, 8, 4)
    moving[:, ::2] += 1.0
    moving[:, 1::2] -= 1.0
    assert torch.equal(get_pooling("mean")(steady), get_pooling("mean")(moving))
    assert not torch.equal(get_pooling("mean+std")(steady), get_pooling("mean+std")(moving))


def test_single_frame_gives_finite_statistics():
    pooled = get_pooling("mean+std")(torch.randn(2, 1, 3))
    assert torch.isfinite(pooled).all() and (pooled[:, 3:] == 0).all()


def test_user_registration_and_its_mistakes(frames):
    @register_pooling("test-first+last", output_size=lambda dim: 2 * dim)
    def first_last(x):
        return torch.cat([x[:, 0], x[:, -1]], dim=1)

    assert "test-first+last" in available_poolings()
    assert get_pooling("test-first+last")(frames).shape == (3, 10)
    with pytest.raises(ValueError, match="already registered"):
        register_pooling("test-first+last")(first_last)

    @register_pooling("test-liar")  # claims dim, returns 2 * dim
    def liar(x):
        return torch.cat([x.mean(1), x.mean(1)], dim=1)

    with pytest.raises(ValueError, match="expected"):
        get_pooling("test-liar")(frames)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown pooling 'median'.*mean\+std"):
        get_pooling("median")
    with pytest.raises(TypeError):
        get_pooling(3)
