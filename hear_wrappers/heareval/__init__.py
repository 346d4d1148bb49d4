"""Running the official HEAR tools (hear-eval-kit's ``heareval``, ``hearvalidator``) on today's stack.

The tools are used unchanged: nothing of theirs is copied or patched on disk. What their 2021 pins
cannot fix on Python 3.10-3.12 with current torch is applied here, at run time, only when a user opts
in by running them through this module:

* ``tensorflow``: both tools import it at top level but only use it for TensorFlow models. When it is
  not installed, `install_tensorflow_stub` puts a minimal stand-in in ``sys.modules`` (with a
  ``__spec__``, which torch's dynamo needs) whose ``Module`` class no torch model is an instance of.
* predictions, `patch_predictions`: torch >= 2.6 loads checkpoints with ``weights_only=True`` and
  heareval reads its own Lightning checkpoints back (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for those
  files, which heareval itself wrote); and on pytorch-lightning 1.9 ``fit_loop.current_epoch`` can no
  longer be set, so event tasks test with the wrong epoch's post-processing and fail with a KeyError:
  a settable property restores the behaviour heareval was written for.
* GPU machines, `patch_gpu_checks`: heareval refuses to run when torch sees a GPU that TensorFlow
  does not (always the case with ``tensorflow-cpu``, which is what a torch model needs), and its GPU
  memory profiler calls ``.decode()`` on the device name that current ``nvidia-ml-py`` returns as
  ``str``. TensorFlow is made to answer with torch's devices, and the name gets a ``decode``.

Command line (``python -m hear_wrappers.heareval --help``)::

    python -m hear_wrappers.heareval install            # heareval + hearvalidator, without their pins
    python -m hear_wrappers.heareval validate hear_wrappers.encodec -m encodec_24khz-d7cc33bc.th
    python -m hear_wrappers.heareval embeddings hear_wrappers.encodec --tasks-dir tasks
    python -m hear_wrappers.heareval predictions embeddings/hear_wrappers.encodec/*/
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import types

__all__ = [
    "HEAR_TOOLS",
    "install_tensorflow_stub",
    "install_tools",
    "patch_gpu_checks",
    "patch_predictions",
]

#: The official tools, installed without their stale dependency pins (see ``install_tools``).
HEAR_TOOLS = ("heareval==2021.1.3", "hearvalidator==2021.0.6")


def install_tools(*, quiet: bool = False) -> None:
    """``pip install --no-deps --ignore-requires-python`` the official tools into this Python.

    Their own dependencies come with ``pip install 'hear-wrappers[eval]'``; their wheels declare
    numpy 1.19 / numba 0.48 (no builds for Python >= 3.10) and, for hearvalidator, Python < 3.9.
    """
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-requires-python"]
    subprocess.run([*command, *(["-q"] if quiet else []), *HEAR_TOOLS], check=True)


def install_tensorflow_stub() -> bool:
    """Make ``import tensorflow`` succeed for torch-only runs, if TensorFlow is not installed.

    Returns:
        True if the stub was installed, False if a real TensorFlow is importable (then nothing is done).
    """
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None:
        return False
    import torch

    stub = types.ModuleType("tensorflow", "hear-wrappers' stand-in: TensorFlow is not installed")
    stub.__spec__ = importlib.machinery.ModuleSpec("tensorflow", loader=None)

    class Module:  # no torch model is an instance of this
        """Stand-in for ``tf.Module``."""

    # heareval refuses to start when torch sees a GPU that TensorFlow does not; this stand-in uses
    # torch's devices, so it reports the same.
    gpu_test = types.SimpleNamespace(is_gpu_available=lambda *args, **kwargs: torch.cuda.is_available())
    for name, value in (("Module", Module), ("float32", "float32"), ("test", gpu_test)):
        setattr(stub, name, value)
    sys.modules["tensorflow"] = stub
    return True


def patch_predictions() -> None:
    """Run-time fixes that heareval's predictions step needs on torch >= 2.6 and Lightning 1.9."""
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    from pytorch_lightning.loops.fit_loop import FitLoop

    def get_epoch(loop: FitLoop) -> int:
        return loop.epoch_progress.current.completed

    def set_epoch(loop: FitLoop, epoch: int) -> None:
        loop.epoch_progress.current.completed = epoch

    FitLoop.current_epoch = property(get_epoch, set_epoch)


class _DeviceName(str):
    """A GPU name that also answers ``.decode()``, as the bytes of older nvidia-ml-py did."""

    def decode(self, *args: object, **kwargs: object) -> str:
        return str(self)


def patch_gpu_checks() -> None:
    """Let heareval run on a CUDA machine whose TensorFlow is CPU-only (see the module docs).

    Does nothing on a machine without CUDA; safe to call more than once.
    """
    import torch

    if not torch.cuda.is_available():
        return
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        tf.test.is_gpu_available = lambda *args, **kwargs: torch.cuda.is_available()
    if importlib.util.find_spec("pynvml") is None:
        return
    import pynvml

    original = pynvml.nvmlDeviceGetName
    if getattr(original, "_hear_wrappers", False):
        return

    def device_name(handle: object) -> _DeviceName:
        name = original(handle)
        return _DeviceName(name.decode() if isinstance(name, bytes) else name)

    device_name._hear_wrappers = True  # type: ignore[attr-defined]
    pynvml.nvmlDeviceGetName = device_name
