"""Shared fixtures: checkpoints made from the real architectures with random weights, saved in the
exact format of the official files, and paths to the real model files in ../shared when present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import installed

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(scope="session")
def encodec_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{variant: path}`` of random-weight EnCodec files laid out like ``encodec_<variant>-*.th``:
    a plain state dict of encoder, decoder and quantizer, weight-norm keys for 24 kHz."""
    if not installed("encodec", "julius", "einops"):
        pytest.skip("needs the 'encodec' extra: pip install 'hear-wrappers[encodec]'")
    from hear_wrappers.encodec import VARIANTS, build_encodec_modules

    folder = tmp_path_factory.mktemp("encodec")
    paths = {}
    for seed, variant in enumerate(VARIANTS):
        torch.manual_seed(seed)
        modules = build_encodec_modules(variant, with_decoder=True)
        # Codebooks start as zeros until k-means runs in training; trained files hold real vectors.
        for name, buffer in modules.named_buffers():
            if name.endswith("_codebook.embed"):
                buffer.normal_()
            elif name.endswith("_codebook.inited"):
                buffer.fill_(1.0)
        path = folder / VARIANTS[variant].checkpoint.filename
        torch.save(modules.state_dict(), path)
        paths[variant] = path
    return paths


@pytest.fixture(scope="session")
def encodec_24khz(encodec_checkpoints):
    from hear_wrappers import encodec

    return encodec.load_model(str(encodec_checkpoints["24khz"]))


@pytest.fixture(scope="session")
def encodec_48khz(encodec_checkpoints):
    from hear_wrappers import encodec

    return encodec.load_model(str(encodec_checkpoints["48khz"]), variant="48khz")
