"""Speed and memory of `hear_wrappers.clap` against the bare HTS-AT audio-branch forward.

Run ``python benchmarks/bench_clap.py [--quick] [--out DIR]`` (see ``benchmarks/README.md``). Random-weight
checkpoints in the official training-checkpoint layout (``{"epoch", "name", "state_dict", "optimizer"}``,
keys prefixed ``module.``, with a text-branch and a classifier-head stand-in that the loader skips) are
written to a temporary folder, so no network and no real weights are needed; speed and memory do not
depend on the weights' values. Two variants, both HTSAT-tiny: ``fusion`` (``630k-audioset-fusion-best``'s
architecture, HTK log-mel front end, ``long_clips="fusion"``) and ``non-fusion`` (``630k-audioset-best``,
slaney log-mel by convolution, ``long_clips="windows"``).

Methods, on Gaussian noise x 0.1 at 48 kHz:

* ``bare``: the network alone on ready 10 s input under ``torch.no_grad``: the log-mel
  (``encoder.htk_log_mel`` for fusion, ``branch.slaney_log_mel`` otherwise), ``branch.frames``, then
  ``audio_projection`` of the frames' mean, L2-normalised; no int16 quantisation, no windowing, no
  input checks. Only for clips of 10 s (the network sees exactly 10 s).
* ``laion_clap`` (optional, when ``laion_clap`` is installed): laion_clap 1.1.7's own
  ``HTSAT_Swin_Transformer`` forward (imported without the package's ``__init__``) with the same
  weights, then the same projection; fusion: on the same HTK log-mel repeated to 4 channels, as
  laion_clap's ``get_audio_features`` builds ``mel_fusion`` for a clip of at most 10 s.
* ``timestamp``: ``clap.get_timestamp_embeddings(audio, model)`` (``frames="raw"``).
* ``scene``: ``clap.get_scene_embeddings(audio, model)`` (``pooling="native"``: CLAP's clip embedding;
  over 10 s the variant's ``long_clips`` mode: fusion, or 10 s windows).
* ``scene-windows``: the fusion checkpoint loaded with ``long_clips="windows"`` (long clips only).
* ``timestamp-noq`` (diagnostic, 10 s clips): ``timestamp`` on a model loaded with ``quantize=False``:
  the wrapper without laion_clap's int16 round trip, the one step of the wrapper that ``bare`` skips
  and that touches every sample.

A sliding-window baseline (the hear21passt pattern: one network forward per 50 ms hop, each on a 10 s
window centred on the hop) is *extrapolated* from a handful of timed single-window forwards.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import inspect
import math
import resource
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (  # the helper sits next to this script, not in a package
    MemoryPeak,
    NoiseCase,
    Timing,
    emit_memory,
    load_average,
    machine_info,
    markdown_table,
    measure_in_subprocess,
    probe_memory,
    rounded,
    time_call,
    write_results,
)

from hear_wrappers import clap
from hear_wrappers.core.model import HearModel
from hear_wrappers.nets import clap_frontend
from hear_wrappers.nets.htsat import SIZES, ClapAudioBranch

SAMPLE_RATE = clap.SAMPLE_RATE
WINDOW_SECONDS = clap.WINDOW_SAMPLES / SAMPLE_RATE
#: variant -> the official checkpoint whose architecture the random weights take
VARIANTS = {"fusion": "630k-audioset-fusion-best", "non-fusion": "630k-audioset-best"}
SHORT_METHODS = ("bare", "laion_clap", "timestamp", "scene", "timestamp-noq")
DIAGNOSTIC_METHODS = ("laion_clap", "timestamp-noq")  # timed only
LONG_METHODS = ("timestamp", "scene", "scene-windows")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_WINDOWS_PER_BATCH: int = inspect.signature(clap.load_model).parameters["windows_per_batch"].default
WRAPPER_TARGET = 1.05  # wrapper time / bare time
MEMORY_TARGET = 1.3  # peak RSS of 1 x long clip / 1 x 10 s
SLIDING_TARGET = 50.0  # extrapolated sliding-window baseline time / our get_timestamp_embeddings time
SLIDING_HOP_SECONDS = 0.05
# windows_per_batch measured (memory, fusion variant) on the longest clip, beside the default
WPB_SWEEP = (1,)


class Case(NoiseCase):
    """A batch of ``n_clips`` clips of ``seconds`` seconds of noise at 48 kHz."""

    sample_rate = SAMPLE_RATE


BATCH = Case(4, 10.0)  # the overhead case
SHORT = Case(1, 10.0)
MID = Case(1, 60.0)


def is_short(case: Case) -> bool:
    return case.seconds <= WINDOW_SECONDS


# ----------------------------------------------------------------------------------------------------
# Checkpoints, models and the measured calls.


def build_checkpoint(folder: Path, variant: str) -> Path:
    """A random-weight HTSAT-tiny CLAP training checkpoint of ``variant``'s architecture in ``folder``."""
    torch.manual_seed(0)
    spec = clap.VARIANTS[VARIANTS[variant]]
    branch = ClapAudioBranch(SIZES[spec.size], fusion=spec.fusion)
    projection = clap.audio_projection(branch.size.num_features)
    state = {f"module.audio_branch.{k}": v for k, v in branch.state_dict().items()}
    state.update({f"module.audio_projection.{k}": v for k, v in projection.state_dict().items()})
    # stand-ins for what the loader must skip: the text branch, the classifier head, CLAP's scalars
    state["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    state["module.audio_branch.tscam_conv.weight"] = torch.zeros(527, branch.size.num_features, 2, 3)
    state["module.logit_scale_a"] = torch.tensor(2.0)
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99)}]}
    path = folder / f"{VARIANTS[variant]}.pt"
    torch.save({"epoch": 45, "name": "bench", "state_dict": state, "optimizer": optimizer}, path)
    return path


def load(
    checkpoint: Path,
    variant: str,
    *,
    long_clips: str | None = None,
    windows_per_batch: int = DEFAULT_WINDOWS_PER_BATCH,
    quantize: bool = True,
) -> HearModel:
    """The HEAR model from ``checkpoint`` with load_model's defaults, apart from the named options."""
    return clap.load_model(
        str(checkpoint),
        variant=VARIANTS[variant],
        long_clips=long_clips,  # type: ignore[arg-type]
        windows_per_batch=windows_per_batch,
        quantize=quantize,
        progress=False,
    )


def _encoder(model: HearModel) -> clap.ClapEncoder:
    return model.encoder  # type: ignore[return-value]


def bare_forward(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """The audio branch alone on ready 10 s audio ``[B, 480000]``: frames ``[B, 32, D]`` and CLAP's
    L2-normalised clip embedding ``[B, 512]``; no quantisation, no windowing, no checks."""
    encoder = _encoder(model)
    branch = encoder.branch
    with torch.no_grad():
        fusion = encoder.htk_log_mel
        mel = fusion(audio) if fusion is not None else branch.slaney_log_mel(audio)
        frames = branch.frames(mel[:, None])
        return frames, F.normalize(encoder.projection(frames.mean(1)), dim=-1)


def method_fn(method: str) -> Callable[[torch.Tensor, HearModel], object]:
    """The function measured for ``method`` (``laion_clap`` is built apart, see `laion_clap_forward`);
    ``scene-windows`` is ``scene`` on a model loaded with ``long_clips="windows"``."""
    return {
        "bare": bare_forward,
        "timestamp": clap.get_timestamp_embeddings,
        "scene": clap.get_scene_embeddings,
        "scene-windows": clap.get_scene_embeddings,
        "timestamp-noq": clap.get_timestamp_embeddings,
    }[method]


# ----------------------------------------------------------------------------------------------------
# Optional: laion_clap's own HTS-AT, imported without laion_clap/__init__ (which downloads tokenizers)
# nor clap_module/__init__ (transformers); torchvision, imported by clap_module/utils.py for a class
# HTS-AT never uses, is a placeholder during that import only when it is not installed.


def import_laion_htsat() -> tuple[types.ModuleType | None, str]:
    """laion_clap's ``clap_module.htsat`` module, or None and the reason."""
    spec = importlib.util.find_spec("laion_clap")  # finds the folder; runs nothing
    if spec is None or not spec.submodule_search_locations:
        return None, "laion_clap is not installed"
    alias = "_bench_clap_laion_clap_module"
    if alias not in sys.modules:
        shell = types.ModuleType(alias, "laion_clap/clap_module's files, loaded without its __init__")
        shell.__path__ = [str(Path(spec.submodule_search_locations[0]) / "clap_module")]
        sys.modules[alias] = shell
    placed: list[str] = []
    if importlib.util.find_spec("torchvision") is None:
        names = ("torchvision", "torchvision.ops", "torchvision.ops.misc")
        for name in names:
            module = types.ModuleType(name, "placeholder for laion_clap's unused import")
            module.__path__ = []
            sys.modules[name] = module
            placed.append(name)
        sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = object  # type: ignore[attr-defined]
    try:
        return importlib.import_module(f"{alias}.htsat"), ""
    except Exception as error:  # an optional column: any failure only drops it
        return None, f"laion_clap's htsat did not import ({type(error).__name__}: {error})"
    finally:
        for name in placed:
            sys.modules.pop(name, None)


def laion_clap_forward(htsat: types.ModuleType, model: HearModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """laion_clap's HTS-AT with ``model``'s weights, then the projection: ``[B, 480000]`` -> ``[B, 512]``."""
    encoder = _encoder(model)
    branch = encoder.branch
    config = types.SimpleNamespace(
        model_name="tiny",
        class_num=527,
        window_size=clap_frontend.N_FFT,
        hop_size=clap_frontend.HOP,
        sample_rate=SAMPLE_RATE,
        mel_bins=clap_frontend.N_MELS,
        fmin=clap_frontend.F_MIN,
        fmax=clap_frontend.F_MAX,
    )
    fusion_type = "aff_2d" if branch.fusion else "None"
    reference = htsat.create_htsat_model(config, enable_fusion=branch.fusion, fusion_type=fusion_type).eval()
    result = reference.load_state_dict(branch.state_dict(), strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"laion_clap's HTS-AT has no place for {result.unexpected_keys[:5]}")

    def forward(audio: torch.Tensor) -> torch.Tensor:
        longer = torch.zeros(audio.shape[0], 1, dtype=torch.bool)
        with torch.no_grad():
            if encoder.htk_log_mel is not None:
                mel = encoder.htk_log_mel(audio)  # laion_clap computes it with torchaudio, outside the net
                inputs = {"mel_fusion": mel[:, None].repeat(1, 4, 1, 1), "longer": longer}
            else:
                inputs = {"waveform": audio, "longer": longer[:, 0]}
            embedding = reference(inputs, device="cpu")["embedding"]
            return F.normalize(encoder.projection(embedding), dim=-1)

    return forward


def check_agreement(
    model: HearModel, laion: Callable[[torch.Tensor], torch.Tensor] | None
) -> dict[str, float]:
    """Max |difference| of the wrapper (and laion_clap) against the bare forward on the same quantised
    2 x 10 s input, so that the timings compare the same computation.

    Raises:
        RuntimeError: a difference beyond float rounding: the comparison would be void.
    """
    audio = Case(2, 10.0).audio(seed=1)
    frames, embedding = bare_forward(clap.quantize_int16(audio), model)
    differences = {
        "timestamp": (clap.get_timestamp_embeddings(audio, model)[0] - frames).abs().max().item(),
        "scene": (clap.get_scene_embeddings(audio, model) - embedding).abs().max().item(),
    }
    if laion is not None:
        differences["laion_clap"] = (laion(clap.quantize_int16(audio)) - embedding).abs().max().item()
    bad = {name: value for name, value in differences.items() if not value <= 1e-4}
    if bad:
        raise RuntimeError(f"outputs differ from the bare forward's: {bad}")
    return differences


# ----------------------------------------------------------------------------------------------------
# The sliding-window baseline: one network forward per 50 ms hop on a 10 s window centred on the hop.


@dataclass
class Sliding:
    """The extrapolated sliding-window baseline for one clip, against our timestamp call."""

    variant: str
    case: str
    clip_seconds: float
    n_hops: int
    forward_seconds: list[float]  # the k timed single-window forwards
    timestamp_seconds: list[float]  # our get_timestamp_embeddings, timed in the same rounds

    @property
    def baseline_seconds(self) -> float:
        """Extrapolated: median single-window forward x number of hops."""
        return statistics.median(self.forward_seconds) * self.n_hops

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / statistics.median(self.timestamp_seconds)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            k_timed_forwards=len(self.forward_seconds),
            median_forward_seconds=statistics.median(self.forward_seconds),
            median_timestamp_seconds=statistics.median(self.timestamp_seconds),
            baseline_seconds_extrapolated=self.baseline_seconds,
            ratio=self.ratio,
        )
        return data


def time_sliding(variant: str, case: Case, audio: torch.Tensor, model: HearModel, k: int) -> Sliding:
    """The sliding-window baseline of ``audio`` (one clip), extrapolated from ``k`` timed single-window
    forwards (the `bare_forward` on one 10 s window each, centres spread evenly over the clip's hops).

    Each timed forward is paired with one timed ``get_timestamp_embeddings`` call of the whole clip, in
    turn, so that a load that drifts hits both alike; one warm-up pair first.
    """
    hop = round(SLIDING_HOP_SECONDS * SAMPLE_RATE)
    n_hops = math.ceil(audio.shape[-1] / hop)
    half = clap.WINDOW_SAMPLES // 2
    padded = F.pad(audio, (half, half))  # window i covers [i * hop - 5 s, i * hop + 5 s) of the clip
    picks = [round(j * (n_hops - 1) / max(k - 1, 1)) for j in range(k)]
    calls = {
        "timestamp": functools.partial(clap.get_timestamp_embeddings, audio, model),
        **{
            f"window {i}": functools.partial(
                bare_forward, padded[:, i * hop : i * hop + clap.WINDOW_SAMPLES], model
            )
            for i in picks
        },
    }
    warm = list(calls.values())[:2]
    for fn in warm:
        time_call(fn, warmup=0, repeats=1)
    forwards, ours = [], []
    for name, fn in calls.items():
        if name == "timestamp":
            continue
        ours += time_call(calls["timestamp"], warmup=0, repeats=1).seconds
        forwards += time_call(fn, warmup=0, repeats=1).seconds
    return Sliding(variant, case.name, case.seconds, n_hops, forwards, ours)


# ----------------------------------------------------------------------------------------------------
# The memory child: one fresh process per (variant, case, method, windows_per_batch).


def memory_child(spec: str, checkpoint: Path, threads: int) -> None:
    """Measure one case in this (fresh) process and print the result for the parent."""
    torch.set_num_threads(threads)
    variant, method, n_clips, seconds, windows_per_batch = spec.split(":")
    long_clips = "windows" if method == "scene-windows" else None
    wpb = int(windows_per_batch) if windows_per_batch else DEFAULT_WINDOWS_PER_BATCH
    model = load(checkpoint, variant, long_clips=long_clips, windows_per_batch=wpb)
    audio = Case(int(n_clips), float(seconds)).audio()
    fn = method_fn(method)
    emit_memory(probe_memory(lambda: fn(audio, model)))


def measure_memory(
    checkpoint: Path, variant: str, case: Case, method: str, windows_per_batch: int | None, threads: int
) -> MemoryPeak:
    """`memory_child` for one case, run in a fresh Python process."""
    spec = f"{variant}:{method}:{case.n_clips}:{case.seconds:g}:{windows_per_batch or ''}"
    args = [__file__, "--memory-child", spec, "--checkpoint", str(checkpoint), "--threads", str(threads)]
    return measure_in_subprocess(args, timeout=3600)


# ----------------------------------------------------------------------------------------------------
# The benchmark.


@dataclass
class Row:
    """One measured (variant, case, method, windows_per_batch)."""

    variant: str
    case: str
    n_clips: int
    clip_seconds: float
    method: str
    windows_per_batch: int | None
    timing: Timing | None = None
    memory: MemoryPeak | None = None
    ratio_to_bare: float | None = None
    ratio_to_bare_min: float | None = None
    page_faults: float | None = None

    @property
    def audio_per_second(self) -> float | None:
        """Seconds of audio embedded per second of wall time (median)."""
        return None if self.timing is None else self.n_clips * self.clip_seconds / self.timing.median

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median_seconds"] = None if self.timing is None else self.timing.median
        data["audio_seconds_per_second"] = self.audio_per_second
        return data


def _minor_faults() -> int:
    """Minor page faults of this process so far (pages the kernel had to map, and zero, on first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(
    fns: dict[str, Callable[[], object]], *, warmup: int, repeats: int
) -> tuple[dict[str, Timing], dict[str, float]]:
    """`time_call` each of ``fns`` once per round, ``warmup`` + ``repeats`` rounds, interleaved, so that
    a load that drifts over minutes hits every method alike. Also returns each call's median count of
    minor page faults over the timed rounds."""
    warm: dict[str, list[float]] = {name: [] for name in fns}
    timed: dict[str, list[float]] = {name: [] for name in fns}
    faults: dict[str, list[int]] = {name: [] for name in fns}
    for round_index in range(warmup + repeats):
        for name, fn in fns.items():
            before = _minor_faults()
            seconds = time_call(fn, warmup=0, repeats=1).seconds[0]
            (warm if round_index < warmup else timed)[name].append(seconds)
            if round_index >= warmup:
                faults[name].append(_minor_faults() - before)
    timings = {name: Timing(seconds=timed[name], warmup_seconds=warm[name]) for name in fns}
    return timings, {name: statistics.median(counts) for name, counts in faults.items()}


def speed_cases(args: argparse.Namespace) -> tuple[Case, ...]:
    if args.quick:
        return (BATCH, SHORT, MID)
    long = Case(1, args.long_seconds)
    return (
        (BATCH, SHORT, MID) if long.name in (BATCH.name, SHORT.name, MID.name) else (BATCH, SHORT, MID, long)
    )


def methods_for(variant: str, case: Case, laion_available: bool) -> tuple[str, ...]:
    if is_short(case):
        return tuple(m for m in SHORT_METHODS if m != "laion_clap" or laion_available)  # timed
    return tuple(m for m in LONG_METHODS if m != "scene-windows" or variant == "fusion")


def memory_cases(args: argparse.Namespace, variant: str) -> list[tuple[Case, str, int | None]]:
    """``(case, method, windows_per_batch)`` measured in fresh processes for ``variant`` (None: the
    default, for ``bare``, which does not window)."""
    cases = speed_cases(args)
    if args.quick:
        cases = tuple(c for c in cases if c is not BATCH)
    elif len(cases) > 3:  # the long clip is measured; the 60 s clip's memory lies between
        cases = tuple(c for c in cases if c is not MID)
    specs: list[tuple[Case, str, int | None]] = [
        (case, method, None if method == "bare" else DEFAULT_WINDOWS_PER_BATCH)
        for case in cases
        for method in methods_for(variant, case, laion_available=False)
        if method not in DIAGNOSTIC_METHODS
    ]
    if variant == "fusion":  # the windowing is the same for both variants
        specs += [(cases[-1], "timestamp", n) for n in WPB_SWEEP]
    return specs


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every variant, case and method; print progress; return all figures."""
    threads = args.threads
    torch.set_num_threads(threads)
    info = machine_info(threads)
    print("# CLAP benchmark (hear_wrappers.clap, HTSAT-tiny, random weights)")
    for key, value in info.items():
        print(f"  {key}: {value}")
    print(
        f"  quick: {args.quick}, rounds: {args.repeats} (10 s cases), {mid_repeats(args)} (60 s), "
        f"{args.long_repeats} (long); sliding-window forwards timed: {args.sliding_forwards}",
        flush=True,
    )
    htsat, why_not = import_laion_htsat()
    print(f"  laion_clap column: {'yes' if htsat else 'no: ' + why_not}", flush=True)

    rows: dict[tuple[str, str, str, int | None], Row] = {}
    sliding: list[Sliding] = []
    agreement: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_clap_") as tmp:
        for variant in args.variants:
            checkpoint = build_checkpoint(Path(tmp), variant)
            model = load(checkpoint, variant)
            windows_model = load(checkpoint, variant, long_clips="windows") if variant == "fusion" else None
            unquantized = load(checkpoint, variant, quantize=False)
            models = {"scene-windows": windows_model, "timestamp-noq": unquantized}
            laion = laion_clap_forward(htsat, model) if htsat is not None else None
            agreement[variant] = check_agreement(model, laion)
            print(
                f"[{variant}] same outputs as the bare forward on quantised input, max |difference|: "
                + ", ".join(f"{name} {value:.1e}" for name, value in agreement[variant].items()),
                flush=True,
            )
            for case in speed_cases(args):
                audio = case.audio()
                methods = methods_for(variant, case, laion is not None)
                calls: dict[str, Callable[[], object]] = {}
                for method in methods:
                    if method == "laion_clap":
                        calls[method] = functools.partial(laion, audio)  # type: ignore[arg-type]
                    else:
                        fn_model = models.get(method, model)
                        calls[method] = functools.partial(method_fn(method), audio, fn_model)
                is_long = case.seconds > MID.seconds
                timings, faults = time_interleaved(
                    calls,
                    # The long clip: no warm-up round, the kernels are warm from the shorter cases.
                    warmup=0 if is_long else 1,
                    repeats=args.long_repeats
                    if is_long
                    else args.repeats
                    if is_short(case)
                    else mid_repeats(args),
                )
                bare = timings.get("bare")
                for method in methods:
                    wpb = None if method in ("bare", "laion_clap") else DEFAULT_WINDOWS_PER_BATCH
                    row = Row(
                        variant,
                        case.name,
                        case.n_clips,
                        case.seconds,
                        method,
                        wpb,
                        timing=timings[method],
                        page_faults=faults[method],
                    )
                    if bare is not None and method != "bare":
                        row.ratio_to_bare = row.timing.median / bare.median  # type: ignore[union-attr]
                        row.ratio_to_bare_min = min(row.timing.seconds) / min(bare.seconds)  # type: ignore[union-attr]
                    rows[(variant, case.name, method, wpb)] = row
                    print(_progress(row), flush=True)
                if case in (SHORT, MID):
                    sliding.append(time_sliding(variant, case, audio, model, args.sliding_forwards))
                    print(_sliding_progress(sliding[-1]), flush=True)
                del audio, calls
            del model, windows_model, unquantized, models, laion

            for case, method, wpb in memory_cases(args, variant):
                key = (variant, case.name, method, wpb)
                row = rows.setdefault(key, Row(variant, case.name, case.n_clips, case.seconds, method, wpb))
                row.memory = measure_memory(checkpoint, variant, case, method, wpb, threads)
                print(_progress(row), flush=True)
    info["load_average_after"] = load_average()
    return {
        "machine": info,
        "settings": _settings(args),
        "rows": list(rows.values()),
        "sliding": sliding,
        "agreement": agreement,
        "laion_clap": why_not or "laion_clap 1.1.7's HTSAT_Swin_Transformer, imported without its __init__",
    }


def mid_repeats(args: argparse.Namespace) -> int:
    """Rounds of the 60 s clip: half the 10 s cases' (it costs 6 windows a call)."""
    return max(1, args.repeats // 2)


def _progress(row: Row) -> str:
    timing, memory = row.timing, row.memory
    wpb = (
        "" if row.windows_per_batch in (None, DEFAULT_WINDOWS_PER_BATCH) else f" wpb {row.windows_per_batch}"
    )
    parts = [f"[{row.variant}] {row.case:>11} {row.method + wpb:>16}:"]
    if timing is not None:
        parts.append(
            f"median {timing.median:7.3f} s ({', '.join(f'{t:.2f}' for t in timing.seconds)}),"
            f" {row.audio_per_second:7.1f} audio-s/s"
        )
    if row.ratio_to_bare is not None:
        parts.append(f"{row.ratio_to_bare:.3f} x bare")
    if memory is not None:
        parts.append(
            f"peak RSS {memory.peak_rss_mib:.0f} MiB, call +{memory.peak_increase_mib:.0f} MiB "
            f"over {memory.rss_before_mib:.0f} MiB (cold call {memory.call_seconds:.2f} s)"
        )
    return " ".join(parts)


def _sliding_progress(s: Sliding) -> str:
    return (
        f"[{s.variant}] {s.case:>11} sliding baseline: {len(s.forward_seconds)} timed single-window "
        f"forwards, median {statistics.median(s.forward_seconds):.3f} s x {s.n_hops} hops = "
        f"{s.baseline_seconds:.1f} s (extrapolated) vs timestamp "
        f"{statistics.median(s.timestamp_seconds):.3f} s (median of {len(s.timestamp_seconds)}): "
        f"{s.ratio:.0f}x"
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "variants": {variant: VARIANTS[variant] for variant in args.variants},
        "htsat": "tiny",
        "quick": args.quick,
        "threads": args.threads,
        "repeats_10s": args.repeats,
        "repeats_60s": mid_repeats(args),
        "repeats_long": args.long_repeats,
        "long_seconds": None if args.quick else args.long_seconds,
        "sliding_forwards_timed": args.sliding_forwards,
        "sliding_hop_seconds": SLIDING_HOP_SECONDS,
        "audio": "torch.randn * 0.1 at 48 kHz, seed 0",
        "weights": "random, official training-checkpoint layout, built in a temporary folder",
        "frames": "raw",
        "pooling": "native",
        "quantize": True,
        "windows_per_batch": DEFAULT_WINDOWS_PER_BATCH,
        "windows_per_batch_sweep": list(WPB_SWEEP),
    }


def memory_ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Peak memory of each 1-clip long case over the same method's ``1 x 10 s`` (``scene-windows``: over
    ``scene``, the same computation at 10 s), per windows_per_batch."""
    by_key = {(row.variant, row.case, row.method, row.windows_per_batch): row for row in rows if row.memory}
    ratios = []
    for (variant, case, method, wpb), long in by_key.items():
        if long.clip_seconds <= WINDOW_SECONDS or long.n_clips != 1:
            continue
        base_method = "scene" if method == "scene-windows" else method
        short = by_key.get((variant, SHORT.name, base_method, DEFAULT_WINDOWS_PER_BATCH))
        if short is None or short.memory is None or long.memory is None:
            continue
        ratios.append(
            {
                "variant": variant,
                "case": case,
                "method": method,
                "windows_per_batch": wpb,
                "peak_rss_mib": long.memory.peak_rss_mib,
                "peak_increase_mib": long.memory.peak_increase_mib,
                "peak_rss_ratio": long.memory.peak_rss_mib / short.memory.peak_rss_mib,
                "peak_increase_ratio": long.memory.peak_increase_mib
                / max(short.memory.peak_increase_mib, 1e-9),
            }
        )
    return ratios


def overhead_table(rows: list[Row]) -> tuple[str, list[dict[str, Any]]]:
    """Wrapper (and laion_clap) over bare on the 10 s cases, one line per variant and case."""
    by_key = {(row.variant, row.case, row.method): row for row in rows if row.timing is not None}
    lines, data = [], []
    for (variant, case, method), bare in by_key.items():
        if method != "bare":
            continue
        entry: dict[str, Any] = {"variant": variant, "case": case, "bare_seconds": bare.timing.median}  # type: ignore[union-attr]
        for name in ("timestamp", "scene", "laion_clap", "timestamp-noq"):
            row = by_key.get((variant, case, name))
            entry[f"{name}_seconds"] = row.timing.median if row else None  # type: ignore[union-attr]
            entry[f"{name}_over_bare"] = row.ratio_to_bare if row else None
            entry[f"{name}_over_bare_min"] = row.ratio_to_bare_min if row else None
        data.append(entry)
        lines.append(
            [
                variant,
                case,
                rounded(entry["bare_seconds"], 3),
                rounded(entry["timestamp_seconds"], 3),
                rounded(entry["scene_seconds"], 3),
                rounded(entry["timestamp_over_bare"], 3),
                rounded(entry["scene_over_bare"], 3),
                rounded(entry["timestamp_over_bare_min"], 3),
                rounded(entry["scene_over_bare_min"], 3),
                rounded(entry["laion_clap_seconds"], 3),
                rounded(entry["laion_clap_over_bare"], 3),
                rounded(entry["timestamp-noq_over_bare"], 3),
            ]
        )
    headers = [
        "variant",
        "case",
        "bare s",
        "timestamp s",
        "scene s",
        "timestamp / bare",
        "scene / bare",
        "timestamp / bare (min)",
        "scene / bare (min)",
        "laion_clap s",
        "laion_clap / bare",
        "timestamp-noq / bare",
    ]
    return markdown_table(headers, lines), data


def _summary(
    overhead: list[dict[str, Any]], sliding: list[Sliding], ratios: list[dict[str, Any]]
) -> list[str]:
    lines = [f"* Overhead on 4 x 10 s (target <= {WRAPPER_TARGET}):"]
    for entry in overhead:
        if entry["case"] == BATCH.name:
            values = [entry["timestamp_over_bare"], entry["scene_over_bare"]]
            verdict = "met" if max(values) <= WRAPPER_TARGET else "missed"
            unquantized = entry["timestamp-noq_over_bare"]
            lines.append(
                f"  {entry['variant']}: timestamp {values[0]:.3f}, scene {values[1]:.3f} ({verdict}); "
                f"timestamp with quantize=False {unquantized:.3f}."
            )
    lines.append(f"* Timestamps vs the extrapolated sliding-window baseline (target >= {SLIDING_TARGET:g}x):")
    for s in sliding:
        verdict = "met" if s.ratio >= SLIDING_TARGET else "missed"
        lines.append(f"  {s.variant}, {s.case}: {s.ratio:.0f}x ({verdict}).")
    wrapper = [r for r in ratios if r["windows_per_batch"] == DEFAULT_WINDOWS_PER_BATCH]
    if wrapper:
        worst = max(wrapper, key=lambda r: r["peak_rss_ratio"])
        verdict = "met" if worst["peak_rss_ratio"] <= MEMORY_TARGET else "missed"
        lines.append(
            "* Peak RSS of a long clip over 1 x 10 s (default windows_per_batch="
            f"{DEFAULT_WINDOWS_PER_BATCH}, target <= {MEMORY_TARGET}): at most {worst['peak_rss_ratio']:.2f} "
            f"({worst['variant']} {worst['method']}, {worst['case']}; {verdict})."
        )
    return lines


def report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON document for ``results`` from `run`."""
    info, rows, settings = results["machine"], results["rows"], results["settings"]
    sliding: list[Sliding] = results["sliding"]
    ratios = memory_ratios(rows)
    overhead, overhead_data = overhead_table(rows)
    agreement = "; ".join(
        f"{variant}: " + ", ".join(f"{name} {value:.1e}" for name, value in diffs.items())
        for variant, diffs in results["agreement"].items()
    )
    k = settings["sliding_forwards_timed"]
    header = [
        "# CLAP benchmark (`hear_wrappers.clap`, HTSAT-tiny, random weights)",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
        f"{info['ram_gib']} GiB RAM; Python {info['python']}, torch {info['torch']}, "
        f"{info['torch_threads']} intra-op threads, CUDA: {info['cuda']}. Load average (1, 5, 15 min) "
        f"before: {info['load_average']}, after: {info['load_average_after']}; a load above the CPU "
        "count means other processes competed for the CPUs and the timings are inflated (hence medians of "
        "interleaved rounds).",
        "",
        "Variants (random weights in the official checkpoint layout): "
        + ", ".join(f"`{v}` = {name}'s architecture" for v, name in settings["variants"].items())
        + ". Model: load_model defaults (frames='raw', pooling='native', quantize=True, "
        f"windows_per_batch={DEFAULT_WINDOWS_PER_BATCH}; long_clips='fusion' for the fusion variant, "
        "'windows' for the other). Input: Gaussian noise x 0.1 at 48 kHz.",
        "",
        "Methods: `bare` = the audio branch alone on ready 10 s input under `torch.no_grad` (log-mel: HTK "
        "for fusion, slaney otherwise; `branch.frames`; projection of the frames' mean, L2-normalised), no "
        "quantisation, windowing or checks; `laion_clap` = laion_clap 1.1.7's own `HTSAT_Swin_Transformer` "
        "forward with the same weights plus the same projection (fusion: on the same HTK log-mel repeated "
        "to 4 channels, as laion_clap feeds a clip of at most 10 s); `timestamp` / `scene` = the wrapper's "
        "`get_timestamp_embeddings` / `get_scene_embeddings` (over 10 s, scene is the variant's long-clip "
        "mode); `scene-windows` = the fusion checkpoint loaded with long_clips='windows'; `timestamp-noq` "
        "(diagnostic) = `timestamp` on a model loaded with quantize=False. Checked before "
        f"timing, on the same quantised 2 x 10 s input, max |difference| to `bare`: {agreement}.",
        "",
        "Columns:",
        "",
        "* **median s** / **min s**: median / fastest wall time of the timed rounds, in-process; the methods "
        "of a case are timed in turn within each round (10 s and 60 s cases after 1 warm-up round, the long "
        "case without one); **n** = rounds.",
        "* **audio s/s**: seconds of audio embedded per second of wall time (clips x seconds / median).",
        f"* **/ bare**: median / bare median for the same case (target <= {WRAPPER_TARGET}); "
        "**/ bare (min)**: the same with the fastest rounds.",
        "* **page faults**: median count of minor page faults per call (`ru_minflt`): memory the "
        "allocator took fresh from the kernel, which zeroes every page (system time). glibc hands large "
        "freed blocks back to the kernel, so every call pays for its big tensors again; extra temporaries "
        "add to the count.",
        "* **wpb**: `windows_per_batch`, 10 s windows per network pass (empty: `bare`, one pass of the "
        "batch).",
        "* **peak RSS MiB**: peak resident set (Linux `VmHWM`, see `benchmarks/_measure.py`) of a fresh "
        "process that loads the model, builds the input and makes this one call.",
        "* **call +MiB**: in that process, the peak RSS during the call minus the RSS right before it.",
        "* **cold s**: wall time of that single (first) call.",
    ]
    speed = markdown_table(
        [
            "variant",
            "case",
            "method",
            "median s",
            "min s",
            "n",
            "audio s/s",
            "/ bare",
            "/ bare (min)",
            "page faults",
        ],
        [
            [
                row.variant,
                row.case,
                row.method,
                rounded(row.timing.median, 3),
                rounded(min(row.timing.seconds), 3),
                len(row.timing.seconds),
                rounded(row.audio_per_second, 1),
                rounded(row.ratio_to_bare, 3),
                rounded(row.ratio_to_bare_min, 3),
                None if row.page_faults is None else round(row.page_faults),
            ]
            for row in rows
            if row.timing is not None
        ],
    )
    sliding_table = markdown_table(
        [
            "variant",
            "case",
            "hops",
            "k timed",
            "forward s (median)",
            "baseline s (extrapolated)",
            "timestamp s",
            "baseline / timestamp",
        ],
        [
            [
                s.variant,
                s.case,
                s.n_hops,
                len(s.forward_seconds),
                rounded(statistics.median(s.forward_seconds), 3),
                rounded(s.baseline_seconds, 1),
                rounded(statistics.median(s.timestamp_seconds), 3),
                round(s.ratio),
            ]
            for s in sliding
        ],
    )
    memory = markdown_table(
        ["variant", "case", "method", "wpb", "peak RSS MiB", "call +MiB", "RSS before MiB", "cold s"],
        [
            [
                row.variant,
                row.case,
                row.method,
                row.windows_per_batch,
                rounded(row.memory.peak_rss_mib, 0),
                rounded(row.memory.peak_increase_mib, 0),
                rounded(row.memory.rss_before_mib, 0),
                rounded(row.memory.call_seconds, 2),
            ]
            for row in rows
            if row.memory is not None
        ],
    )
    ratio_table = markdown_table(
        [
            "variant",
            "case",
            "method",
            "wpb",
            "peak RSS MiB",
            "call +MiB",
            "peak RSS ratio",
            "call +MiB ratio",
        ],
        [
            [
                r["variant"],
                r["case"],
                r["method"],
                r["windows_per_batch"],
                rounded(r["peak_rss_mib"], 0),
                rounded(r["peak_increase_mib"], 0),
                rounded(r["peak_rss_ratio"], 2),
                rounded(r["peak_increase_ratio"], 1),
            ]
            for r in ratios
        ],
    )
    markdown = "\n".join(
        [
            *header,
            "",
            "## Summary",
            "",
            *_summary(overhead_data, sliding, ratios),
            "",
            "## Overhead against the bare audio-branch forward",
            "",
            f"Medians of interleaved rounds after a warm-up round (target <= {WRAPPER_TARGET} on 4 x 10 s). "
            "The wrapper adds the input checks, laion_clap's int16 quantisation, the repeat-pad / window "
            "copy and, for timestamps, the frame trimming and timestamps. `timestamp-noq / bare` is the same "
            "without the int16 round trip: the difference between the two is what the round trip costs, "
            "directly (a few passes over the audio) and through the allocator (see the page faults in the "
            "speed table). On a machine whose CPUs are busy "
            "with other work, every torch op spread over several intra-op threads can wait for them to be "
            "scheduled (calls 2-3x slower and erratic with 2 threads on 2 busy CPUs); `--threads 1` shows "
            "the overhead without that wait.",
            "",
            overhead,
            "",
            "## Speed",
            "",
            speed,
            "",
            "## Timestamps against a sliding-window baseline",
            "",
            f"**The baseline is extrapolated, not run**: hear21passt's pattern makes one network forward per "
            f"{SLIDING_HOP_SECONDS * 1000:g} ms hop, each on a 10 s window centred on the hop (the clip "
            f"zero-padded by 5 s on both sides). Only k = {k} such single-window forwards (the `bare` "
            "forward on one 10 s window, centres spread evenly over the clip, after 1 warm-up forward) are "
            "timed; baseline = their median x the number of hops (clip seconds / 0.05). `timestamp s` is the "
            "median of our `get_timestamp_embeddings` on the same clip, one call timed before each of those "
            "forwards (pairs in turn, after 1 warm-up pair, so that a drifting load hits both alike). "
            f"Target >= {SLIDING_TARGET:g}x.",
            "",
            sliding_table,
            "",
            "## Peak memory (fresh process per row)",
            "",
            memory,
            "",
            "## Peak memory, long clips over 1 x 10 s",
            "",
            "Each long-clip row over the same method's 1 x 10 s row (`scene-windows` over `scene`) with the "
            f"default windows_per_batch={DEFAULT_WINDOWS_PER_BATCH}; target for the peak RSS ratio <= "
            f"{MEMORY_TARGET}. A 1 x 10 s call runs one window; a long clip runs up to windows_per_batch "
            "windows per pass (the wpb rows show what that costs).",
            "",
            ratio_table,
        ]
    )
    data = {
        "machine": info,
        "settings": settings,
        "laion_clap": results["laion_clap"],
        "agreement_max_abs_difference": results["agreement"],
        "definitions": {
            "median_seconds": "median wall time of the timed rounds, in-process, methods interleaved",
            "audio_seconds_per_second": "n_clips * clip_seconds / median_seconds",
            "ratio_to_bare": "method median / bare median, same variant and case",
            "ratio_to_bare_min": "method fastest / bare fastest, same variant and case",
            "page_faults": "median minor page faults (ru_minflt) per timed call, in-process",
            "peak_rss_mib": "peak RSS (Linux VmHWM, else ru_maxrss) of a fresh process making this one call",
            "peak_increase_mib": "peak RSS during the call minus RSS right before it, same fresh process",
            "rss_before_mib": "RSS right before the call in that process",
            "sliding_baseline_seconds_extrapolated": (
                f"median of k={k} timed single 10 s window forwards x n_hops (clip seconds / "
                f"{SLIDING_HOP_SECONDS}); not run in full"
            ),
            "sliding_ratio": "sliding_baseline_seconds_extrapolated / timestamp median on the same clip",
        },
        "targets": {
            "ratio_to_bare_4x10s": WRAPPER_TARGET,
            "sliding_ratio": SLIDING_TARGET,
            "peak_rss_ratio_long_over_10s": MEMORY_TARGET,
        },
        "overhead": overhead_data,
        "rows": [row.as_json() for row in rows],
        "sliding_baseline": [s.as_json() for s in sliding],
        "memory_ratios": ratios,
    }
    return markdown, data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fusion variant only; 7 rounds, 4 sliding-window forwards; no long clip (60 s is the "
        "longest); memory on 1 x 10 s and 1 x 60 s only",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder ({DEFAULT_OUT})")
    parser.add_argument(
        "--variant",
        choices=(*VARIANTS, "both"),
        default=None,
        help="which architecture(s): both; --quick: fusion",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per 10 s case (9; quick 7)")
    parser.add_argument("--long-repeats", type=int, default=1, help="timed rounds for the long clip")
    parser.add_argument("--long-seconds", type=float, default=600.0, help="length of the long clip")
    parser.add_argument(
        "--sliding-forwards",
        type=int,
        default=None,
        help="single-window forwards timed for the baseline (8; quick 4)",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 7 if args.quick else 9
    if args.sliding_forwards is None:
        args.sliding_forwards = 4 if args.quick else 8
    if args.variant is None:
        args.variant = "fusion" if args.quick else "both"
    args.variants = tuple(VARIANTS) if args.variant == "both" else (args.variant,)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.checkpoint, args.threads)
        return
    start = time.perf_counter()
    results = run(args)
    markdown, data = report(results)
    data["total_seconds"] = time.perf_counter() - start
    md_path, json_path = write_results(args.out, "clap", markdown, data)
    print()
    print(markdown)
    print(f"\nWrote {md_path} and {json_path} in {data['total_seconds']:.0f} s.")


if __name__ == "__main__":
    main()
