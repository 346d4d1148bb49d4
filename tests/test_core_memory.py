"""steady_heap: glibc's mmap threshold fixed once, with the user's opt-out respected."""

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
