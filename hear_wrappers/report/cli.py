"""Writing the report's files (`write_report`) and the command line (``python -m hear_wrappers.report``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hear_wrappers.report.compare import compare
from hear_wrappers.report.figure import draw_figure
from hear_wrappers.report.leaderboard import Leaderboard, load_leaderboard
from hear_wrappers.report.scores import Score, collect_scores
from hear_wrappers.report.tables import markdown_table

__all__ = ["ReportFiles", "main", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote."""

    markdown: Path  #: results.md, the table
    png: Path  #: results.png, the figure
    json: Path  #: results.json, the bars as drawn


def write_report(
    scores: Sequence[Score],
    out_dir: Path | str,
    *,
    title: str = "HEAR results",
    leaderboard: Leaderboard | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportFiles:
    """Write ``results.md``, ``results.png`` and ``results.json`` for ``scores`` into ``out_dir``.

    Args:
        scores: from `collect_scores`.
        out_dir: created if missing; existing report files in it are replaced.
        title: the table's heading and the figure's title.
        leaderboard: reference scores; default `load_leaderboard()`.
        groups: combinations, ``{combination: [member, ...]}`` by label or module folder name; each
            is shown right after its members (see `compare`).
        options: ``{label or module folder: load_model options}``; options holding ``"models": [...]``
            make a combination of the members in the report (see `compare`).
    """
    comparisons = compare(scores, leaderboard, groups=groups, options=options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "results.md", out / "results.png", out / "results.json")
    files.markdown.write_text(markdown_table(comparisons, title=title), encoding="utf-8")
    figure, bars = draw_figure(comparisons, title=title)
    figure.savefig(files.png, dpi=100)
    files.json.write_text(
        json.dumps([dataclasses.asdict(bar) for bar in bars], indent=2) + "\n", encoding="utf-8"
    )
    return files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hear_wrappers.report",
        description="Results table (results.md), figure (results.png) and drawn bars (results.json) "
        "from heareval's test.predicted-scores.json files, next to the HEAR leaderboard's best and OpenL3.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="EMB_DIR",
        help="embeddings root, <module> folder or <module>/<task> folder",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for results.md/.png/.json")
    parser.add_argument("--title", default="HEAR results", help="table heading and figure title")
    parser.add_argument(
        "--leaderboard", type=Path, help="a leaderboard CSV to use instead of the shipped one"
    )
    parser.add_argument(
        "--group",
        nargs="+",
        action="append",
        default=[],
        metavar=("COMBINATION", "MEMBER"),
        help="show COMBINATION (a module folder name or label) right after its MEMBERs, grouped; repeatable",
    )
    parser.add_argument(
        "--options",
        nargs=2,
        action="append",
        default=[],
        metavar=("MODULE_DIR", "JSON"),
        help='the --model-options a module folder ran with; with "models": [...] it is a combination '
        "of the members found in the report; repeatable",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hear_wrappers.report EMB_DIR [EMB_DIR ...] --out DIR [--title T] [--leaderboard CSV]
    [--group COMBINATION MEMBER [MEMBER ...]] [--options MODULE_DIR JSON]``."""
    parser = _parser()
    args = parser.parse_args(argv)
    for group in args.group:
        if len(group) < 2:
            parser.error(f"--group {group[0]} needs at least one MEMBER after the combination")
    try:
        options = {label: json.loads(text) for label, text in args.options}
    except json.JSONDecodeError as error:
        parser.error(f"--options: the JSON is not valid ({error})")
    if any(not isinstance(value, dict) for value in options.values()):
        parser.error('--options: JSON must be an object, e.g. \'{"models": ["crepe-tiny", "soundstream"]}\'')
    try:
        scores = collect_scores(args.paths)
        leaderboard = load_leaderboard(args.leaderboard) if args.leaderboard else None
        files = write_report(
            scores,
            args.out,
            title=args.title,
            leaderboard=leaderboard,
            groups={group[0]: group[1:] for group in args.group},
            options=options,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(files.markdown.read_text(encoding="utf-8"))
    print(f"wrote {files.markdown}, {files.png}, {files.json} ({len(scores)} scores)")
    return 0
