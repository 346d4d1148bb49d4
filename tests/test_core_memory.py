"""steady_heap: glibc's mmap threshold fixed once, opt-in, with the user's opt-out respected."""

import subprocess
import sys

import pytest

CODE = "from hear_wrappers.core.memory import steady_heap; print(steady_heap(), steady_heap())"


def run(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("HEAR_WRAPPERS_MALLOC", "MALLOC_MMAP_THRESHOLD_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_applied_once_on_glibc():
    assert run({}).split() == ["True", "True"]


@pytest.mark.parametrize("env", [{"HEAR_WRAPPERS_MALLOC": "default"}, {"MALLOC_MMAP_THRESHOLD_": "65536"}])
def test_user_choice_wins(env):
    assert run(env).split() == ["False", "False"]


MODEL_CODE = """
import torch
from hear_wrappers.core import memory
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, HearModel

class Silent(FrameEncoder):
    timing = FrameTiming(16000, 160.0, 80.0)
    embedding_size = 1
    min_samples = 160
    def num_frames(self, n):
        return n // 160
    def forward(self, audio):
        return audio.new_zeros(audio.shape[0], self.num_frames(audio.shape[1]), 1)

HearModel(Silent())
print(memory._applied)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
@pytest.mark.parametrize(("env", "expected"), [({}, "None"), ({"HEAR_WRAPPERS_MALLOC": "steady"}, "True")])
def test_building_a_model_leaves_malloc_alone_unless_asked(env, expected):
    import os

    clean = {
        k: v for k, v in os.environ.items() if k not in ("HEAR_WRAPPERS_MALLOC", "MALLOC_MMAP_THRESHOLD_")
    }
    result = subprocess.run(
        [sys.executable, "-c", MODEL_CODE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [expected]
