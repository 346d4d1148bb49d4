"""The ``hear-wrappers`` command: the registry as a table, and the tools as subcommands.

::

    hear-wrappers list                 # every registered checkpoint: rate, hop, sizes, extra, licence
    hear-wrappers list 'clap-*'        # shell-style pattern
    hear-wrappers info encodec-48khz   # one spec, in full
    hear-wrappers embed ...            # = python -m hear_wrappers.embed ... (the scale-out runner)
    hear-wrappers evaluate ...         # = python -m hear_wrappers.evaluate ...
    hear-wrappers predictions ...      # = python -m hear_wrappers.evaluate predictions ... (score
                                       #   existing embeddings in parallel, and the report)

``list`` and ``info`` read the specs only: no weights are loaded and no model library is imported.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

from hear_wrappers import __version__

__all__ = ["main", "models_table"]

#: Subcommands that hand their arguments to another module's entry point ``function(argv) -> int``:
#: ``{command: (module, function, summary)}``.
_DELEGATED = {
    "embed": ("hear_wrappers.embed.__main__", "main", "extract embeddings (the scale-out heareval runner)"),
    "evaluate": ("hear_wrappers.evaluate", "main", "tasks -> embeddings -> predictions -> report"),
    "predictions": (
        "hear_wrappers.evaluate",
        "predictions_main",
        "score existing embeddings with heareval's predictions runner, in parallel, and report",
    ),
}


def models_table(pattern: str = "*") -> str:
    """The registered models matching ``pattern`` as a markdown table, one row per checkpoint."""
    from hear_wrappers.core.registry import get_spec, list_models

    header = ("name", "rate (Hz)", "hop (ms)", "frame", "clip (default)", "extra", "weights", "licence")
    rows = [header, tuple("---" for _ in header)]
    for name in list_models(pattern):
        spec = get_spec(name)
        clip = f"{spec.clip_embedding_size()} ({spec.default_pooling})"
        licence = re.sub(r"\s*\([^)]*\)", "", spec.license)  # the licences, without their notes
        rows.append(
            (
                name,
                str(spec.sample_rate),
                f"{spec.frame_hop_ms:g}",
                str(spec.frame_size),
                clip,
                spec.extra,
                spec.weights.source,
                licence,
            )
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _info(name: str) -> str:
    from hear_wrappers.core.pooling import available_poolings
    from hear_wrappers.core.registry import get_spec

    spec = get_spec(name)
    sizes = ", ".join(f"{p} {spec.clip_embedding_size(p)}" for p in available_poolings())
    native = f"native {spec.native_clip_size}, " if spec.native_clip_size else ""
    lines = [
        f"{spec.name}: {spec.description}",
        f"  HEAR module     {spec.module} (load_model(variant={spec.variant!r}))",
        f"  sample rate     {spec.sample_rate} Hz",
        f"  frames          every {spec.frame_hop_ms:g} ms, {spec.frame_size}-d",
        f"  clip embedding  {spec.default_pooling} by default: {spec.clip_embedding_size()}-d",
        f"  other sizes     {native}{sizes}",
        f"  install         pip install 'hear-wrappers[{spec.extra}]'",
        f"  weights         {spec.weights.source}",
        f"  licence         {spec.license}",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hear-wrappers", description="Audio representation models behind the HEAR API."
    )
    parser.add_argument("--version", action="version", version=f"hear-wrappers {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="the registered models as a table")
    listing.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'clap-*'")
    info = commands.add_parser("info", help="one model's spec")
    info.add_argument("name", help="a name from 'hear-wrappers list'")
    for command, (_, _, summary) in _DELEGATED.items():
        commands.add_parser(command, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _DELEGATED:
        module_name, function, _ = _DELEGATED[args[0]]
        return int(getattr(importlib.import_module(module_name), function)(args[1:]) or 0)
    parsed = _parser().parse_args(args)
    try:
        if parsed.command == "list":
            table = models_table(parsed.pattern)
            if table.count("\n") < 2:
                print(f"no registered model matches {parsed.pattern!r}", file=sys.stderr)
                return 1
            print(table)
        elif parsed.command == "info":
            print(_info(parsed.name))
    except ValueError as error:
        print(f"hear-wrappers: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
