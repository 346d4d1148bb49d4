"""``python -m hear_wrappers.xares.run MODEL TASK.py ...``: X-ARES's run (``xares.run``) on our models.

The same as ``python -m xares.run hear_wrappers.xares.<module> TASK.py ...`` with two conveniences: the
model may be given by its registry name (``encodec-24khz``), and where torchaudio cannot be imported
(a torchaudio wheel built for another torch release) the two torchaudio functions X-ARES's data pipeline
calls are provided by `hear_wrappers.xares.torchaudio_stand_in`, here and in X-ARES's worker processes.
``--list`` prints every model's X-ARES module. Options: see `hear_wrappers.xares`.

This is a module of its own, not the package's ``__main__``: multiprocessing's spawn (X-ARES's default,
``--max-jobs 1``) re-imports the main module in each worker, except a ``__main__`` module, and the worker
needs the import-time `torchaudio_stand_in.install` below before it imports X-ARES.
"""

from __future__ import annotations

import argparse
import sys

from hear_wrappers.xares import torchaudio_stand_in

# At import, not in main(): X-ARES's worker processes (spawn) import this module again before they
# unpickle their work, which imports xares.audiowebdataset and so torchaudio.
torchaudio_stand_in.install()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, translate the model to its X-ARES module and run ``xares.run.main``."""
    parser = argparse.ArgumentParser(
        prog="python -m hear_wrappers.xares.run",
        description="Run X-ARES tasks on a registered hear-wrappers model (see docs/suites.md).",
    )
    parser.add_argument("model", nargs="?", help="registry name (encodec-24khz) or X-ARES module path")
    parser.add_argument("tasks_py", nargs="*", help="X-ARES task files, e.g. tasks/esc50_task.py")
    parser.add_argument("--list", action="store_true", help="print every model's X-ARES module and exit")
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        help="X-ARES's --max-jobs (0: one process); default 1 with CUDA, else 0 (X-ARES's worker pool "
        "divides by the number of GPUs)",
    )
    parser.add_argument("--from-stage", type=int, default=0, help="X-ARES's --from-stage")
    parser.add_argument("--to-stage", type=int, default=2, help="X-ARES's --to-stage")
    args = parser.parse_args(argv)

    from hear_wrappers.xares import list_modules, module_name, registry_name

    if args.list:
        for path, name in list_modules().items():
            print(f"{name:45s} {path}")
        return 0
    if not args.model or not args.tasks_py:
        parser.error("give a model and at least one X-ARES task file (or --list).")
    try:
        name = registry_name(args.model)
    except ValueError as error:
        parser.error(str(error))
    try:
        from xares import run as xares_run
    except ModuleNotFoundError as error:
        print(f"X-ARES is not installed ({error}): see docs/suites.md.", file=sys.stderr)
        return 2
    if args.max_jobs is None:
        import torch

        args.max_jobs = 1 if torch.cuda.is_available() else 0
    xares_args = argparse.Namespace(
        encoder_py=f"hear_wrappers.xares.{module_name(name)}",
        tasks_py=args.tasks_py,
        max_jobs=args.max_jobs,
        from_stage=args.from_stage,
        to_stage=args.to_stage,
    )
    xares_run.main(xares_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
