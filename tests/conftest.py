"""Shared fixtures: every registered model on random weights written in its official file format (by
the registry's `write_random_weights`), and paths to the real model files in ../shared when present.

Tests that take ``model_name`` run once per name of `hear_wrappers.list_models()`. The name is a
session-scoped parameter, so pytest runs all the tests of one name together and builds each model
once (`model`), then drops it before the next name's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import installed

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``model_name``: every registered name (the registry is read only by the tests that ask)."""
    if "model_name" in metafunc.fixturenames:
        import hear_wrappers

        names = hear_wrappers.list_models()
        metafunc.parametrize("model_name", names, ids=names, scope="session")


def skip_without_extra(name: str) -> None:
    """Skip the test when the model's extra (the family's required modules) is not installed."""
    from hear_wrappers.core.registry import get_family

    family = get_family(name)
    if not installed(*family.requires):
        pytest.skip(f"{name} needs the {family.extra!r} extra: pip install 'hear-wrappers[{family.extra}]'")


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``random_weights(name)``: the path of model ``name``'s random-weight file in its official
    format and under its official file name (written once per session, in a folder of its own)."""
    from hear_wrappers.core.registry import write_random_weights

    root = tmp_path_factory.mktemp("random-weights")
    written: dict[str, Path] = {}

    def weights(name: str) -> Path:
        skip_without_extra(name)
        if name not in written:
            written[name] = write_random_weights(name, root / name)
        return written[name]

    return weights


@pytest.fixture(scope="session")
def weights_file(model_name: str, random_weights: Callable[[str], Path]) -> Path:
    """The random-weight file of ``model_name`` (see `random_weights`)."""
    return random_weights(model_name)


@pytest.fixture(scope="session")
def model(model_name: str, weights_file: Path):
    """``create_model(model_name, weights_file)`` with default options, built once per name."""
    from hear_wrappers import create_model

    return create_model(model_name, weights_file)


@pytest.fixture(scope="session")
def encodec_checkpoints(random_weights: Callable[[str], Path]) -> dict[str, Path]:
    """``{variant: path}`` of the random-weight EnCodec files, laid out like ``encodec_<variant>-*.th``:
    a plain state dict of encoder, decoder and quantizer (weight-norm keys for 24 kHz)."""
    from hear_wrappers import encodec

    return {variant: random_weights(spec.name) for variant, spec in encodec.FAMILY.specs.items()}


@pytest.fixture(scope="session")
def encodec_24khz(encodec_checkpoints: dict[str, Path]):
    from hear_wrappers import encodec

    return encodec.load_model(str(encodec_checkpoints["24khz"]))


@pytest.fixture(scope="session")
def encodec_48khz(encodec_checkpoints: dict[str, Path]):
    from hear_wrappers import encodec

    return encodec.load_model(str(encodec_checkpoints["48khz"]), variant="48khz")
