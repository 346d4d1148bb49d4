"""The pooling registry: built-in strategies, their sizes, and user registration."""

import pytest
import torch

from hear_wrappers.core.pooling import (
    available_poolings,
    get_pooling,
    quantiles,
    register_pooling,
    segment_weights,
)

#: Every built-in strategy and its output size for frames of size 5.
BUILTIN_SIZES = {
    "mean": 5,
    "max": 5,
    "mean+max": 10,
    "mean+std": 10,
    "mean+max+std": 15,
    "q90": 5,
    "mean+q10+q90": 15,
    "topk10": 5,
    "gem3": 5,
    "pyramid2": 15,
    "pyramid3": 35,
}


@pytest.fixture
def frames():
    return torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("name", "size"), BUILTIN_SIZES.items())
def test_builtin_output_sizes(frames, name, size):
    pooling = get_pooling(name)
    assert pooling.output_size(5) == size
    assert pooling(frames).shape == (3, size)
    assert set(BUILTIN_SIZES) <= set(available_poolings())


@pytest.mark.parametrize("name", BUILTIN_SIZES)
@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_any_length_pools_to_the_same_size_and_each_clip_alone(name, count):
    """Fixed size whatever the clip length (1 frame too), and a clip's result never depends on its batch."""
    frames = torch.randn(4, count, 5, generator=torch.Generator().manual_seed(count), dtype=torch.float64)
    pooling = get_pooling(name)
    pooled = pooling(frames)
    assert pooled.shape == (4, BUILTIN_SIZES[name]) and torch.isfinite(pooled).all()
    for i in range(4):
        torch.testing.assert_close(pooling(frames[i : i + 1])[0], pooled[i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", BUILTIN_SIZES)
def test_a_single_frame_is_its_own_summary(name):
    """1 frame: every statistic but the spread is the frame itself, the spread is 0."""
    frame = torch.tensor([[[-2.0, 0.0, 0.5, 3.0, 7.0]]])
    blocks = get_pooling(name)(frame)[0].reshape(-1, 5)
    spread = name.split("+").index("std") if name.endswith("+std") else None
    assert len(blocks) == BUILTIN_SIZES[name] // 5
    for index, block in enumerate(blocks):
        expected = torch.zeros(5) if index == spread else frame[0, 0]
        torch.testing.assert_close(block, expected, rtol=0, atol=1e-6)


def test_new_statistics_on_a_hand_made_clip():
    # One feature over 10 frames: 0 ... 9 in shuffled order (order must not matter to these).
    values = torch.tensor([3.0, 9.0, 0.0, 6.0, 1.0, 8.0, 2.0, 7.0, 5.0, 4.0])
    frames = values.reshape(1, 10, 1)
    # Quantiles interpolate between order statistics: q90 = 8 + 0.1 * (9 - 8).
    torch.testing.assert_close(get_pooling("q90")(frames), torch.tensor([[8.1]]))
    torch.testing.assert_close(get_pooling("mean+q10+q90")(frames), torch.tensor([[4.5, 0.9, 8.1]]))
    # Top 10% of 10 frames is 1 frame (the max); of 11 frames, ceil(1.1) = 2 frames.
    torch.testing.assert_close(get_pooling("topk10")(frames), torch.tensor([[9.0]]))
    eleven = torch.cat([frames, torch.full((1, 1, 1), 8.5)], dim=1)
    torch.testing.assert_close(get_pooling("topk10")(eleven), torch.tensor([[8.75]]))
    # GeM, p = 3, on min-shifted values: (mean of (k/9)^3) ^ (1/3) * 9 + 0 = (2025/10)^(1/3).
    torch.testing.assert_close(get_pooling("gem3")(frames), torch.tensor([[202.5 ** (1 / 3)]]))
    torch.testing.assert_close(
        get_pooling("mean+max+std")(frames), torch.tensor([[4.5, 9.0, values.std(correction=0).item()]])
    )


def test_quantiles_match_torch_quantile():
    frames = torch.randn(3, 23, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    levels = (0.0, 0.1, 0.5, 0.9, 1.0)
    for level, got in zip(levels, quantiles(frames, levels), strict=True):
        torch.testing.assert_close(got, torch.quantile(frames, level, dim=1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        quantiles(frames, (90,))


def test_gem_handles_negative_features_and_lies_between_mean_and_max():
    frames = torch.randn(2, 50, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64) - 10
    gem = get_pooling("gem3")
    pooled = gem(frames)
    assert (pooled >= frames.mean(1)).all() and (pooled <= frames.amax(1)).all()
    # Shift- and scale-equivariant: gem(a x + b) = a gem(x) + b for a > 0.
    torch.testing.assert_close(gem(3 * frames + 100), 3 * pooled + 100, rtol=1e-12, atol=1e-9)
    # Non-negative features whose minimum is 0: the classic GeM, mean(x^3)^(1/3).
    positive = frames - frames.amin(1, keepdim=True)
    torch.testing.assert_close(gem(positive), positive.pow(3).mean(1).pow(1 / 3), rtol=1e-12, atol=1e-12)
    # A constant feature (no range): the constant, not 0/0.
    torch.testing.assert_close(gem(torch.full((1, 4, 2), -3.0)), torch.full((1, 2), -3.0))


def test_pyramid_blocks_are_segment_means_in_time_order():
    frames = torch.arange(8.0).reshape(1, 8, 1)  # 0 ... 7
    torch.testing.assert_close(get_pooling("pyramid2")(frames), torch.tensor([[3.5, 1.5, 5.5]]))
    torch.testing.assert_close(
        get_pooling("pyramid3")(frames), torch.tensor([[3.5, 1.5, 5.5, 0.5, 2.5, 4.5, 6.5]])
    )
    # Blocks of a 2-feature clip: [mean (2), half 1 (2), half 2 (2)].
    two = torch.stack([torch.arange(4.0), -torch.arange(4.0)], dim=-1)[None]
    expected = torch.tensor([[1.5, -1.5, 0.5, -0.5, 2.5, -2.5]])
    torch.testing.assert_close(get_pooling("pyramid2")(two), expected)


def test_pyramid_shares_frames_that_straddle_segments():
    # 3 frames over 2 halves: the middle frame lies half in each.
    torch.testing.assert_close(
        segment_weights(3, 2, dtype=torch.float64, device=torch.device("cpu")),
        torch.tensor([[2 / 3, 1 / 3, 0.0], [0.0, 1 / 3, 2 / 3]], dtype=torch.float64),
    )
    torch.testing.assert_close(
        get_pooling("pyramid2")(torch.tensor([[[0.0], [3.0], [6.0]]])), torch.tensor([[3.0, 1.0, 5.0]])
    )
    # Fewer frames than segments: each quarter gets the frame it lies in.
    torch.testing.assert_close(
        get_pooling("pyramid3")(torch.tensor([[[0.0], [4.0]]])),
        torch.tensor([[2.0, 0.0, 4.0, 0.0, 0.0, 4.0, 4.0]]),
    )
    for count, segments in [(1, 4), (3, 4), (5, 2), (640, 4), (641, 4)]:
        weights = segment_weights(count, segments, dtype=torch.float64, device=torch.device("cpu"))
        torch.testing.assert_close(weights.sum(1), torch.ones(segments, dtype=torch.float64))
        # Each frame stands for 1/count of the clip: its weights add up to segments/count.
        shares = torch.full((count,), segments / count, dtype=torch.float64)
        torch.testing.assert_close(weights.sum(0), shares)


def test_pyramid_tells_order_that_every_other_statistic_misses():
    """A rising and a falling clip hold the same frames: only the pyramid sees which came first."""
    rising = torch.linspace(0, 1, 12).reshape(1, 12, 1).repeat(1, 1, 3)
    falling = rising.flip(1)
    for name in BUILTIN_SIZES:
        same = torch.allclose(get_pooling(name)(rising), get_pooling(name)(falling), atol=1e-6)
        assert same == (not name.startswith("pyramid")), name


@pytest.mark.parametrize("name", ["mean", "max", "q90", "mean+q10+q90", "topk10", "gem3", "mean+max+std"])
def test_order_free_statistics_are_the_same_for_a_clip_repeated(name):
    """Length robustness: a clip and that clip played 3 times pool alike (the pyramid does not claim it)."""
    frames = torch.randn(2, 20, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    pooling = get_pooling(name)
    torch.testing.assert_close(pooling(frames.repeat(1, 3, 1)), pooling(frames), rtol=1e-12, atol=1e-12)


def test_top_k_mean_is_the_length_robust_max():
    """A target filling 10% of the frames over a noisy background, in short and long clips.

    topk10 reads the target's level whatever the length; the max of the background alone grows with
    the length (an extreme value), and the mean reads mostly background.
    """
    generator = torch.Generator().manual_seed(4)
    for count in (20, 200, 2000):
        background = torch.rand(1, count, 8, generator=generator, dtype=torch.float64)  # in [0, 1)
        clip = background.clone()
        clip[:, : count // 10] = 5.0  # the target: 10% of the frames, above every background frame
        torch.testing.assert_close(get_pooling("topk10")(clip), torch.full((1, 8), 5.0, dtype=torch.float64))
        assert (get_pooling("mean")(clip) < 0.1 * 5.0 + 0.9 * 1.0).all()  # far from the target's 5
    noise = torch.randn(1, 20000, 64, generator=generator, dtype=torch.float64)
    short, long = noise[:, :100], noise
    # E[max] of 100 vs 20000 standard normals: about 2.5 vs 4.0; E[top 10% mean] = 1.755 for both, and
    # the spread of the short estimate over 64 features averages to about 0.03.
    assert (get_pooling("max")(long) - get_pooling("max")(short)).mean() > 1.0
    assert abs((get_pooling("topk10")(long) - get_pooling("topk10")(short)).mean()) < 0.15


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
    with pytest.raises(ValueError, match=r"unknown pooling 'median'.*pyramid2.*topk10"):
        get_pooling("median")
    with pytest.raises(TypeError):
        get_pooling(3)
