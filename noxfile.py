"""Developer sessions: ``nox -s lint tests package suites`` (what CI runs), ``nox -s bench``, ``nox -s demo``.

Torch is installed first and on its own (``HEAR_WRAPPERS_TORCH``, default ``torch==2.13.0``): a bare
``torch`` requirement resolved by pip can pull a build with gigabytes of CUDA packages you may not want.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "package", "suites"]
nox.options.default_venv_backend = "venv"

TORCH = os.environ.get("HEAR_WRAPPERS_TORCH", "torch==2.13.0")
#: The extras the test suite exercises.
TEST_EXTRAS = "encodec,clap,crepe,soundstream,archisound,eval,distributed,dev"
#: LAION-CLAP's own code, the reference the CLAP tests compare against. Installed without its
#: dependencies (numpy < 2, transformers, ...): the tests load only its audio-branch files.
CLAP_REFERENCE = ("laion-clap==1.1.7", "torchlibrosa==0.1.0")


def install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy on the package, which ships ``py.typed``."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.install(TORCH)
    session.install("mypy>=1.10", "numpy>=1.24", "types-tqdm")
    session.run("mypy")


#: Run in a fresh venv with only the built wheel installed (no dependencies): the files a user gets.
WHEEL_CHECK = """
import importlib.resources, subprocess, sys
files = importlib.resources.files("hear_wrappers")
for name in ("py.typed", "data/hear-leaderboard.csv", "nets/__init__.py", "report/__init__.py"):
    assert files.joinpath(name).is_file(), f"{name} is missing from the wheel"
import hear_wrappers
out = subprocess.run(["hear-wrappers", "--version"], capture_output=True, text=True, check=True).stdout
assert out.split() == ["hear-wrappers", hear_wrappers.__version__], out
print("wheel OK:", out.strip())
"""


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, install the wheel alone into a fresh venv, check its files."""
    import shutil
    import tempfile

    session.install("build>=1.0")
    dist = Path(tempfile.mkdtemp(prefix="hear-wrappers-dist-"))
    session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(dist))
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1 or not list(dist.glob("*.tar.gz")):
        session.error(
            f"expected one wheel and one sdist in {dist}, got {sorted(p.name for p in dist.iterdir())}"
        )
    venv = dist / "venv"
    session.run("python", "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    session.run(str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheels[0]), external=True)
    session.run(
        str(python), "-c", WHEEL_CHECK, external=True, env={"PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    )
    shutil.rmtree(dist)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with the official HEAR tools installed."""
    install(session, TEST_EXTRAS)
    session.install("--no-deps", *CLAP_REFERENCE)
    session.run("python", "-m", "hear_wrappers.heareval", "install", "-q")
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput, peak memory and overhead against the bare model forward; writes benchmarks/results/.

    ``nox -s bench -- --model NAME`` measures one registered model (any name ``hear-wrappers list``
    prints, or a pattern such as ``'crepe-*'``; repeatable); without ``--model``, the default set of
    ``benchmarks/bench.py``. Every argument goes to ``benchmarks/bench.py`` (``--quick``, ``--threads N``,
    ...; see benchmarks/README.md).
    """
    install(session, "encodec,clap,crepe,soundstream,archisound,distributed")
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: CREPE (real weights) through the HEAR pipeline on generated tasks.

    Builds the tasks, computes the embeddings for two pooling strategies in one encoder pass
    (``hear_wrappers.embed``, heareval's embeddings runner drop-in), runs heareval's own predictions
    runner once per (task x pooling) as parallel jobs, and writes hear-results/results.{md,png,json}.
    Arguments go to ``python -m hear_wrappers.evaluate`` (e.g. ``nox -s demo -- encodec-24khz
    --poolings mean,max`` evaluates another model; ``--official`` runs the previous path, heareval's
    embeddings runner once per pooling, for comparison).
    """
    install(session, "crepe,eval")
    session.run("python", "-m", "hear_wrappers.heareval", "install", "-q")
    session.run("python", "-m", "hear_wrappers.evaluate", *session.posargs)


@nox.session
def suites(session: nox.Session) -> None:
    """hear_wrappers.xares and hear_wrappers.mteb against X-ARES 0.1.3 and mteb 2.x, every registered model.

    X-ARES's own checker and run (on a local task) and mteb's own DataLoader and ``mteb.evaluate`` (on a
    local dataset); no download. Arguments go to pytest (e.g. ``nox -s suites -- -m 'not slow'``).
    """
    install(session, "encodec,clap,crepe,soundstream,archisound,xares,mteb,dev")
    session.run("pytest", "tests/test_xares.py", "tests/test_mteb.py", *session.posargs)
