"""The report of one model's run: ``results/<name>.md`` (tables) and ``results/<name>.json`` (all figures).

Every model's report has the same tables (speed, memory per row, long clip over 1 x 10 s) and the same
definitions (benchmarks/README.md, "Definitions"); a family adds sections of its own (`Section`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.profile import MEMORY_TARGET, SHORT_SECONDS, WRAPPER_TARGET
from harness.runner import Results, Row

__all__ = ["markdown_table", "memory_ratios", "report", "rounded", "write_results"]

DEFINITIONS = {
    "median_seconds": "median wall time of the timed rounds, in-process, the methods of a case interleaved",
    "min_seconds": "the fastest of those rounds",
    "audio_seconds_per_second": "n_clips * clip_seconds / median_seconds (the realtime factor)",
    "ratio_to_baseline": "median / the baseline method's median (bare unless said), same case",
    "ratio_to_baseline_min": "fastest / the baseline's fastest, same case",
    "page_faults": "median minor page faults (ru_minflt) per timed call, in-process",
    "peak_rss_mib": "peak RSS (Linux VmHWM, else ru_maxrss) of a fresh process making this one call",
    "peak_increase_mib": "peak RSS during the call minus RSS right before it, same fresh process",
    "rss_before_mib": "RSS right before the call in that process",
    "cold_seconds": "wall time of that single (first) call in the fresh process",
    "peak_rss_ratio": f"a 1-clip long case's peak RSS over the same method's 1 x {SHORT_SECONDS:g} s",
}
COLUMNS = [
    "* **median s** / **min s**: median / fastest wall time of the timed rounds, in-process; the methods "
    "of a case are called in turn within each round (short cases after 1 warm-up round, the long clip "
    "without one); **n** = rounds; **page faults**: median minor page faults per call.",
    "* **audio s/s**: seconds of audio embedded per second of wall time (clips x seconds / median).",
    f"* **/ base**: median / the baseline's median, same case (`bare` unless named; target <= "
    f"{WRAPPER_TARGET}); **/ base (min)**: the same with the fastest rounds.",
    "* **peak RSS MiB**: peak resident set (Linux `VmHWM`) of a fresh process that loads the model, builds "
    "the input and makes this one call; **call +MiB**: in that process, the peak RSS during the call "
    "minus the RSS right before it; **cold s**: wall time of that single, first call.",
    "",
    "Definitions in full: benchmarks/README.md.",
]


def rounded(value: float | None, digits: int = 2) -> float | None:
    """``value`` rounded for a table (an int for 0 digits); None for missing or NaN."""
    if value is None or value != value:
        return None
    return round(value) if digits == 0 else round(value, digits)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers right-aligned, None shown as an empty cell."""

    def cell(value: object) -> str:
        return "" if value is None else str(value)

    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(headers))
    ]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def memory_ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Each 1-clip long row's memory over its reference method's (``like``) 1 x 10 s row."""
    short = {
        row.method.name: row
        for row in rows
        if row.memory and row.case.n_clips == 1 and row.case.seconds == SHORT_SECONDS
    }
    ratios = []
    for row in rows:
        reference = short.get(row.method.like or row.method.name)
        if row.memory is None or not row.case.is_long or reference is None or reference.memory is None:
            continue
        ratios.append(
            {
                "case": row.case.name,
                "method": row.method.name,
                "over": reference.method.name,
                "wrapper": row.method.wrapper,
                "peak_rss_mib": row.memory.peak_rss_mib,
                "peak_increase_mib": row.memory.peak_increase_mib,
                "cold_seconds": row.memory.call_seconds,
                "peak_rss_ratio": row.memory.peak_rss_mib / reference.memory.peak_rss_mib,
                "peak_increase_ratio": row.memory.peak_increase_mib
                / max(reference.memory.peak_increase_mib, 1e-9),
                "default_options": row.method.is_wrapper,
            }
        )
    return ratios


def summary(rows: list[Row], ratios: list[dict[str, Any]]) -> list[str]:
    """Overhead per method over its baseline across cases, and the long clip's memory verdict."""
    lines = []
    by_method: dict[str, list[float]] = {}
    for row in rows:
        if row.ratio is not None:
            by_method.setdefault(row.method.name, []).append(row.ratio)
    for name, values in by_method.items():
        method = next(row.method for row in rows if row.method.name == name)
        median = statistics.median(values)
        verdict = "met" if median <= WRAPPER_TARGET else "missed"
        target = f"; target <= {WRAPPER_TARGET} {verdict} on the median" if method.wrapper else ""
        lines.append(
            f"* `{name}` / `{method.baseline}`: {min(values):.3f} to {max(values):.3f} over {len(values)} "
            f"case(s) (median {median:.3f}{target})."
        )
    wrapper = [r for r in ratios if r["wrapper"] and r["default_options"]]
    if wrapper:
        worst = max(wrapper, key=lambda r: r["peak_rss_ratio"])
        verdict = "met" if worst["peak_rss_ratio"] <= MEMORY_TARGET else "missed"
        lines.append(
            f"* Peak RSS of a long clip over 1 x {SHORT_SECONDS:g} s, wrapper with load_model's defaults: at "
            f"most {worst['peak_rss_ratio']:.2f} ({worst['method']}, {worst['case']}; target <= "
            f"{MEMORY_TARGET} {verdict})."
        )
    return lines


def _speed_table(rows: list[Row]) -> str:
    timed = [row for row in rows if row.timing is not None]
    return markdown_table(
        [
            "case",
            "method",
            "median s",
            "min s",
            "n",
            "audio s/s",
            "base",
            "/ base",
            "/ base (min)",
            "page faults",
        ],
        [
            [
                row.case.name,
                row.method.name,
                rounded(row.timing.median, 3),
                rounded(row.timing.fastest, 3),
                len(row.timing.seconds),
                rounded(row.audio_per_second, 1),
                row.method.baseline if row.ratio is not None else None,
                rounded(row.ratio, 3),
                rounded(row.ratio_min, 3),
                round(statistics.median(row.timing.page_faults)) if row.timing.page_faults else None,
            ]
            for row in timed
            if row.timing is not None
        ],
    )


def _memory_table(rows: list[Row]) -> str:
    return markdown_table(
        ["case", "method", "peak RSS MiB", "call +MiB", "RSS before MiB", "cold s", "cold audio s/s"],
        [
            [
                row.case.name,
                row.method.name,
                rounded(row.memory.peak_rss_mib, 0),
                rounded(row.memory.peak_increase_mib, 0),
                rounded(row.memory.rss_before_mib, 0),
                rounded(row.memory.call_seconds, 2),
                rounded(row.cold_audio_per_second, 1),
            ]
            for row in rows
            if row.memory is not None
        ],
    )


def _ratio_table(ratios: list[dict[str, Any]]) -> str:
    return markdown_table(
        ["case", "method", "over", "peak RSS MiB", "call +MiB", "peak RSS ratio", "call +MiB ratio"],
        [
            [
                r["case"],
                r["method"],
                r["over"],
                rounded(r["peak_rss_mib"], 0),
                rounded(r["peak_increase_mib"], 0),
                rounded(r["peak_rss_ratio"], 2),
                rounded(r["peak_increase_ratio"], 1),
            ]
            for r in ratios
        ],
    )


def report(results: Results) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON document of one model's run."""
    spec, info, settings = results.spec, results.machine, results.settings
    ratios = memory_ratios(results.rows)
    agreement = ", ".join(f"{name} {value:.1e}" for name, value in results.agreement.items())
    header = [
        f"# {spec.name} benchmark (`{spec.module}`)",
        "",
        f"{spec.description}. Weights: {results.weights}.",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
        f"{info['ram_gib']} GiB RAM; Python {info['python']}, torch {info['torch']}, "
        f"{info['torch_threads']} intra-op threads, CUDA: {info['cuda']}. Load average (1, 5, 15 min) "
        f"before: {info['load_average']}, after: {info['load_average_after']}; a load above the CPU "
        "count means other processes competed for the CPUs and the timings are inflated (hence medians of "
        "interleaved rounds). glibc's mmap threshold fixed by `steady_heap()` in every process.",
        "",
        f"Input: Gaussian noise x 0.1 at {spec.sample_rate} Hz. {' '.join(results.description)}"
        + (
            f" Checked before timing, max |difference| to the bare forward: {agreement}." if agreement else ""
        ),
        "",
        "Columns:",
        "",
        *COLUMNS,
    ]
    parts = [
        *header,
        "",
        "## Summary",
        "",
        *summary(results.rows, ratios),
        "",
        "## Speed",
        "",
        _speed_table(results.rows),
        "",
        "## Peak memory (fresh process per row)",
        "",
        _memory_table(results.rows),
    ]
    if ratios:
        parts += [
            "",
            f"## Peak memory, long clips over 1 x {SHORT_SECONDS:g} s",
            "",
            f"Each 1-clip long row over the 1 x {SHORT_SECONDS:g} s row of the method named in `over`; "
            f"target for the wrapper's peak RSS ratio <= {MEMORY_TARGET}. The `call +MiB` ratio is larger "
            "by nature (the long input alone is in it).",
            "",
            _ratio_table(ratios),
        ]
    for section in results.sections:
        parts += ["", f"## {section.title}", "", *section.lines]
    data = {
        "model": {k: v for k, v in asdict(spec).items() if k != "weights"} | {"module": spec.module},
        "machine": info,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "weights": results.weights,
        "description": results.description,
        "agreement_max_abs_difference": results.agreement,
        "definitions": DEFINITIONS,
        "targets": {"ratio_to_bare": WRAPPER_TARGET, "peak_rss_ratio_long_over_10s": MEMORY_TARGET},
        "rows": [row.as_json() for row in results.rows],
        "memory_ratios": ratios,
        "sections": {section.title: section.data for section in results.sections if section.data is not None},
        "total_seconds": results.total_seconds,
    }
    return "\n".join(parts), data


def write_results(out_dir: Path, name: str, markdown: str, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.md`` and ``<out_dir>/<name>.json``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"{name}.md", out_dir / f"{name}.json"
    md_path.write_text(markdown + "\n")
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return md_path, json_path
