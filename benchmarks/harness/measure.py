"""How the benchmarks measure: wall time in-process, peak memory in a fresh process.

Wall time is measured in the benchmark's own process: the methods of a case are called in turn within
each round (`time_interleaved`), so that a load that drifts over minutes hits them all alike; the first
``warmup`` rounds are not counted, and a method's figure is the median of its timed calls.

Peak memory is measured in a *fresh* subprocess per row, so that one row's allocations (or the
allocator's cached pages) never inflate another's:

* ``peak RSS``: the largest resident set the whole child process ever had (Python, torch, the model
  weights, the input audio and the call itself). On Linux this is ``VmHWM`` from ``/proc/self/status``
  rather than ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the pre-``exec`` peak into
  ``ru_maxrss``, so a child started by ``subprocess`` reports at least its *parent's* peak (checked:
  a parent at 800 MiB gives a fresh ``python -c`` child ``ru_maxrss`` = 814 MiB, ``VmHWM`` = 13 MiB).
  Elsewhere ``ru_maxrss`` is used; the JSON keeps ``ru_maxrss_mib`` for reference.
* ``peak increase`` (``call +MiB``): the largest resident set *during the call* minus the resident set
  right before it (after building the model and the input). On Linux the kernel's high-water mark is
  reset right before the call (``/proc/self/clear_refs``), so this is the call's own peak even when
  loading the model peaked higher; where that reset is unavailable it falls back to ``peak RSS - RSS
  before``, which then overstates the call's peak if setup peaked higher (``hwm_reset`` says which).

The child is ``python benchmarks/bench.py --memory-child <json>``: it calls `probe_memory` and then
`emit_memory`, and the parent reads the result with `measure_in_subprocess`.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "MemoryPeak",
    "Timing",
    "emit_memory",
    "load_average",
    "machine_info",
    "measure_in_subprocess",
    "probe_memory",
    "time_call",
    "time_interleaved",
]

MIB = 1024 * 1024
_MARKER = "@@MEMORY@@ "


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of the timed calls (warm-up calls kept apart) and their minor page faults."""

    seconds: list[float]
    warmup_seconds: list[float] = field(default_factory=list)
    page_faults: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median of the timed (non-warm-up) calls."""
        return statistics.median(self.seconds)

    @property
    def fastest(self) -> float:
        return min(self.seconds)


def _minor_faults() -> int:
    """Minor page faults of this process so far (pages the kernel had to map, and zero, on first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _once(fn: Callable[[], object]) -> tuple[float, int]:
    """Wall seconds and minor page faults of one call of ``fn`` (its result dropped inside the timing)."""
    gc.collect()
    faults = _minor_faults()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed, _minor_faults() - faults


def time_call(fn: Callable[[], object], *, warmup: int = 1, repeats: int = 3) -> Timing:
    """Time ``fn()``: ``warmup`` unrecorded calls, then ``repeats`` recorded ones (at least 1)."""
    return time_interleaved({"fn": fn}, warmup=warmup, repeats=repeats)["fn"]


def time_interleaved(
    fns: Mapping[str, Callable[[], object]], *, warmup: int, repeats: int
) -> dict[str, Timing]:
    """Call each of ``fns`` once per round, ``warmup`` + ``repeats`` rounds, in turn within a round.

    On a machine shared with other work the load drifts over minutes; interleaving exposes every
    method to the same drift, so that their ratio stays meaningful.

    Returns:
        per name, the timed rounds' wall seconds and minor page faults (``ru_minflt``), the warm-up
        rounds' seconds apart.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    calls: dict[str, list[tuple[float, int]]] = {name: [] for name in fns}
    for _ in range(warmup + repeats):
        for name, fn in fns.items():
            calls[name].append(_once(fn))
    return {
        name: Timing(
            seconds=[seconds for seconds, _ in done[warmup:]],
            warmup_seconds=[seconds for seconds, _ in done[:warmup]],
            page_faults=[faults for _, faults in done[warmup:]],
        )
        for name, done in calls.items()
    }


@dataclass(frozen=True)
class MemoryPeak:
    """Memory of one call in a fresh process, in MiB (see the module docstring for definitions)."""

    rss_before_mib: float
    peak_rss_mib: float
    peak_increase_mib: float
    hwm_reset: bool
    call_seconds: float
    ru_maxrss_mib: float


def _status_kib(field_name: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _ru_maxrss_mib() -> float:
    """``ru_maxrss`` of this process in MiB (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def _peak_rss_mib() -> float:
    """Peak resident set of this process image in MiB: ``VmHWM`` on Linux, else ``ru_maxrss``.

    ``VmHWM`` belongs to the new address space and starts afresh at ``exec``; ``ru_maxrss`` does not.
    """
    peak = _status_kib("VmHWM")
    return peak / 1024 if peak is not None else _ru_maxrss_mib()


def _current_rss_mib() -> float:
    """Current resident set in MiB (``VmRSS``; falls back to ``ru_maxrss`` off Linux)."""
    rss = _status_kib("VmRSS")
    return rss / 1024 if rss is not None else _ru_maxrss_mib()


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter for this process (Linux >= 4.0); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def probe_memory(fn: Callable[[], object]) -> MemoryPeak:
    """Run ``fn()`` once and report the process's peak RSS and the call's peak over the RSS before.

    Meant to be the one measured call of a fresh process, after its setup (model, input).
    """
    gc.collect()
    setup_peak = _peak_rss_mib()
    before = _current_rss_mib()
    reset = _reset_high_water_mark() and _status_kib("VmHWM") is not None
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    call_peak = _peak_rss_mib()
    return MemoryPeak(
        rss_before_mib=before,
        peak_rss_mib=max(setup_peak, call_peak),
        peak_increase_mib=call_peak - before,
        hwm_reset=reset,
        call_seconds=elapsed,
        ru_maxrss_mib=_ru_maxrss_mib(),
    )


def emit_memory(peak: MemoryPeak) -> None:
    """Print ``peak`` on stdout for `measure_in_subprocess` (the child side)."""
    print(_MARKER + json.dumps(asdict(peak)), flush=True)


def measure_in_subprocess(args: Sequence[str], *, timeout: float | None = None) -> MemoryPeak:
    """Run ``python <args>`` in a fresh process and return the `MemoryPeak` it emitted.

    Raises:
        RuntimeError: the child failed or printed no result (its output is included).
    """
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            return MemoryPeak(**json.loads(line[len(_MARKER) :]))
    raise RuntimeError(
        f"memory child {list(args)} exited with {proc.returncode} and no result:\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def machine_info(threads: int) -> dict[str, Any]:
    """What the figures depend on: CPU, Python, torch, the intra-op thread count and the load."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    try:
        total_ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        total_ram_gib = float("nan")
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": round(total_ram_gib, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": threads,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda": torch.cuda.is_available(),
        "load_average": load_average(),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 min load averages (other processes competing for the CPUs skew timings)."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None
