"""The official validator (hearvalidator 2021.0.6), run unchanged, can fail: the check that every
registered model passes it is in test_contract.py (``test_hearvalidator_accepts_the_file_alone``)."""

import subprocess
import sys

import pytest
from helpers import installed

pytestmark = pytest.mark.skipif(
    not installed("hearvalidator", "tensorflow"),
    reason="needs hearvalidator: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)


def validate(module: str, checkpoint) -> subprocess.CompletedProcess:
    """``python -m hearvalidator.validate MODULE -m CHECKPOINT``, as the contract suite runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hearvalidator.validate", module, "-m", str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_validator_refuses_a_broken_module(tmp_path, monkeypatch):
    """The check can fail: a module with a sample rate HEAR does not use is refused."""
    (tmp_path / "broken.py").write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    sample_rate = 24000\n"
        "    scene_embedding_size = timestamp_embedding_size = 4\n"
        "def load_model(model_file_path=''):\n"
        "    return M()\n"
        "def get_scene_embeddings(audio, model): ...\n"
        "def get_timestamp_embeddings(audio, model): ...\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = validate("broken", "")
    assert result.returncode != 0 and "Looks good!" not in result.stdout
    assert "sample rate of 24000 is invalid" in result.stderr
