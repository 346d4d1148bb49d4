"""Running a profile's plan: the agreement check, the timed rounds, the memory children, the extras.

The parent process builds the weights once (in a temporary folder that lives for the whole run), times
every step's methods in interleaved rounds, runs the family's extra measurements, then measures each
memory row in a fresh ``python benchmarks/bench.py --memory-child <json>`` process (`memory_child`).
"""

from __future__ import annotations

import functools
import importlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.measure import (
    MemoryPeak,
    Timing,
    emit_memory,
    load_average,
    machine_info,
    measure_in_subprocess,
    probe_memory,
    time_interleaved,
)
from harness.profile import Bench, Case, Method, Profile, Section, Settings, Weights
from hear_wrappers.core.registry import ModelSpec, get_spec

__all__ = ["Results", "Row", "memory_child", "profile_for", "run"]

BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "bench.py"
MEMORY_TIMEOUT_S = 3600


@dataclass
class Row:
    """One measured (case, method): timed in-process, measured in a fresh process, or both."""

    case: Case
    method: Method
    timing: Timing | None = None
    memory: MemoryPeak | None = None
    ratio: float | None = None  # median / the baseline's median, same case
    ratio_min: float | None = None  # fastest / the baseline's fastest

    @property
    def audio_per_second(self) -> float | None:
        """Seconds of audio embedded per second of wall time (median of the timed rounds)."""
        return None if self.timing is None else self.case.audio_seconds / self.timing.median

    @property
    def cold_audio_per_second(self) -> float | None:
        """The same for the single (first) call of the fresh memory process."""
        return None if self.memory is None else self.case.audio_seconds / self.memory.call_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case.name,
            "n_clips": self.case.n_clips,
            "clip_seconds": self.case.seconds,
            "method": self.method.name,
            "options": dict(self.method.options),
            "baseline": self.method.baseline,
            "timing": None if self.timing is None else asdict(self.timing),
            "memory": None if self.memory is None else asdict(self.memory),
            "median_seconds": None if self.timing is None else self.timing.median,
            "audio_seconds_per_second": self.audio_per_second,
            "ratio_to_baseline": self.ratio,
            "ratio_to_baseline_min": self.ratio_min,
            "cold_audio_seconds_per_second": self.cold_audio_per_second,
        }


@dataclass
class Results:
    """Everything one model's run measured, for the report."""

    spec: ModelSpec
    settings: Settings
    machine: dict[str, Any]
    weights: str
    description: list[str]
    agreement: dict[str, float]
    rows: list[Row]
    sections: list[Section] = field(default_factory=list)
    total_seconds: float = 0.0


def profile_for(spec: ModelSpec) -> Profile:
    """The family's profile (``benchmarks/families/<family>.py``'s ``PROFILE``), else the default."""
    try:
        module = importlib.import_module(f"families.{spec.family}")
    except ModuleNotFoundError as error:
        if error.name != f"families.{spec.family}":
            raise
        return Profile(spec)
    return module.PROFILE(spec)


def run(spec: ModelSpec, settings: Settings) -> Results:
    """Measure ``spec``'s plan; print progress; return the figures."""
    profile = profile_for(spec)
    methods = profile.methods()
    info = machine_info(settings.threads)
    print(f"# {spec.name} benchmark")
    for key, value in info.items():
        print(f"  {key}: {value}")
    plan = profile.plan(settings)
    rows: dict[tuple[str, str], Row] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench_{spec.name}_") as tmp:
        weights = profile.weights(Path(tmp), settings.weights)
        print(f"  weights: {weights.source}; quick: {settings.quick}", flush=True)
        bench = Bench(spec, weights, settings)
        agreement = profile.check(bench)
        if agreement:
            print("  checked against the bare forward, max |difference|: " + _join(agreement), flush=True)
        for step in plan:
            if not step.timed:
                continue
            audio = step.case.audio()
            calls = {
                name: functools.partial(profile.call(methods[name], bench), audio) for name in step.timed
            }
            timings = time_interleaved(calls, warmup=step.warmup, repeats=step.repeats)
            for name in step.timed:
                row = rows.setdefault((step.case.name, name), Row(step.case, methods[name]))
                row.timing = timings[name]
                baseline = timings.get(methods[name].baseline or "")
                if baseline is not None:
                    row.ratio = row.timing.median / baseline.median
                    row.ratio_min = row.timing.fastest / baseline.fastest
                print(progress(row), flush=True)
            del audio, calls
        sections = profile.extras(bench, list(rows.values()))
        description = profile.describe(bench)
        bench.release()
        for step in plan:
            for name in step.memory:
                row = rows.setdefault((step.case.name, name), Row(step.case, methods[name]))
                row.memory = measure_memory(spec, weights, step.case, name, settings.threads)
                print(progress(row), flush=True)
    info["load_average_after"] = load_average()
    return Results(
        spec, settings, info, weights.source, description, agreement, list(rows.values()), sections
    )


def _join(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1e}" for name, value in values.items())


def progress(row: Row) -> str:
    """One line per measured row, as it comes."""
    parts = [f"{row.case.name:>11} {row.method.name:>18}:"]
    if row.timing is not None:
        times = ", ".join(f"{t:.3f}" for t in row.timing.seconds)
        parts.append(f"median {row.timing.median:8.3f} s ({times}), {row.audio_per_second:7.1f} audio-s/s")
    if row.ratio is not None:
        parts.append(f"{row.ratio:.3f} x {row.method.baseline}")
    if row.memory is not None:
        memory = row.memory
        parts.append(
            f"peak RSS {memory.peak_rss_mib:.0f} MiB, call +{memory.peak_increase_mib:.0f} MiB over "
            f"{memory.rss_before_mib:.0f} MiB (cold call {memory.call_seconds:.2f} s)"
        )
    return " ".join(parts)


def measure_memory(spec: ModelSpec, weights: Weights, case: Case, method: str, threads: int) -> MemoryPeak:
    """`memory_child` for one row, in a fresh Python process."""
    job = {
        "model": spec.name,
        "weights": str(weights.path),
        "method": method,
        "n_clips": case.n_clips,
        "seconds": case.seconds,
        "threads": threads,
    }
    return measure_in_subprocess(
        [str(BENCH_SCRIPT), "--memory-child", json.dumps(job)], timeout=MEMORY_TIMEOUT_S
    )


def memory_child(job_json: str) -> None:
    """The fresh process of one memory row: build the method's model, then the input, then one call."""
    job = json.loads(job_json)
    torch.set_num_threads(job["threads"])
    spec = get_spec(job["model"])
    profile = profile_for(spec)
    bench = Bench(spec, Weights(Path(job["weights"]), "parent's"), Settings(threads=job["threads"]))
    fn = profile.call(profile.methods()[job["method"]], bench)
    audio = profile.case(job["n_clips"], job["seconds"]).audio()
    emit_memory(probe_memory(lambda: fn(audio)))
