"""CLAP (HTS-AT audio branch, at each registered checkpoint's size): the branch alone on ready 10 s input
as the bare forward, laion_clap's own HTS-AT as an optional reference, and timestamps against an extrapolated
sliding-window baseline."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import statistics
import sys
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from harness.measure import time_interleaved
from harness.profile import Bench, Call, Case, Method, Profile, Section, Settings, Step
from harness.report import markdown_table, rounded

from hear_wrappers import clap
from hear_wrappers.nets import clap_frontend

SLIDING_TARGET = 50.0  # extrapolated sliding-window baseline time / our get_timestamp_embeddings time
SLIDING_HOP_SECONDS = 0.05
SLIDING_FORWARDS = (8, 4)  # single-window forwards timed for the baseline: full run, --quick
WPB_SWEEP = (1,)  # windows_per_batch measured (memory, fusion) on the longest clip, beside the default
SHORT_METHODS = ("bare", "laion_clap", "timestamp", "scene", "timestamp-noq")
DIAGNOSTIC = ("laion_clap", "timestamp-noq")  # timed only


def _wpb_name(windows_per_batch: int) -> str:
    return f"timestamp wpb={windows_per_batch}"


def import_laion_htsat() -> tuple[types.ModuleType | None, str]:
    """laion_clap's ``clap_module.htsat`` module, or None and the reason.

    Imported without laion_clap/__init__ (which downloads tokenizers) nor clap_module/__init__
    (transformers); torchvision, imported by clap_module/utils.py for a class HTS-AT never uses, is a
    placeholder during that import only when it is not installed.
    """
    spec = importlib.util.find_spec("laion_clap")  # finds the folder; runs nothing
    if spec is None or not spec.submodule_search_locations:
        return None, "laion_clap is not installed"
    alias = "_bench_clap_laion_clap_module"
    if alias not in sys.modules:
        shell = types.ModuleType(alias, "laion_clap/clap_module's files, loaded without its __init__")
        shell.__path__ = [spec.submodule_search_locations[0] + "/clap_module"]
        sys.modules[alias] = shell
    placed: list[str] = []
    if importlib.util.find_spec("torchvision") is None:
        for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
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


@dataclass
class Sliding:
    """The extrapolated sliding-window baseline for one clip, against our timestamp call."""

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


class ClapProfile(Profile):
    """Random weights in the official training-checkpoint layout; ``--quick``: 1 x 60 s is the longest
    clip. On 2 busy CPUs pass ``--threads 1`` (HTS-AT's ops wait for a descheduled second thread)."""

    repeats = (9, 7)

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.fusion: bool = clap.VARIANTS[spec.variant].fusion
        self.size: str = clap.VARIANTS[spec.variant].size  # HTSAT-tiny or -base
        self._htsat: tuple[types.ModuleType | None, str] | None = None

    def laion(self) -> tuple[types.ModuleType | None, str]:
        if self._htsat is None:
            self._htsat = import_laion_htsat()
        return self._htsat

    def methods(self) -> dict[str, Method]:
        methods = [
            Method("bare", baseline=None, wrapper=False),
            Method("laion_clap", wrapper=False),
            Method("timestamp"),
            Method("scene"),
            Method("timestamp-noq", "timestamp", {"quantize": False}),
            Method("scene-windows", "scene", {"long_clips": "windows"}, like="scene"),
            *(
                Method(_wpb_name(n), "timestamp", {"windows_per_batch": n}, like="timestamp")
                for n in WPB_SWEEP
            ),
        ]
        return {m.name: m for m in methods}

    def plan(self, settings: Settings) -> list[Step]:
        short = tuple(m for m in SHORT_METHODS if m != "laion_clap" or self.laion()[0] is not None)
        memory_short = tuple(m for m in short if m not in DIAGNOSTIC)
        long = ("timestamp", "scene", "scene-windows") if self.fusion else ("timestamp", "scene")
        sweep = tuple(_wpb_name(n) for n in WPB_SWEEP) if self.fusion else ()
        batch, single, mid = self.case(4, 10), self.case(1, 10), self.case(1, 60)
        mid_rounds = max(1, self.rounds(settings) // 2)  # 6 windows a call
        if settings.quick:  # memory on 1 x 10 s and 1 x 60 s
            return [
                self.short_step(batch, short, (), settings),
                self.short_step(single, short, memory_short, settings),
                Step(mid, long, long + sweep, warmup=1, repeats=mid_rounds),
            ]
        return [
            self.short_step(batch, short, memory_short, settings),
            self.short_step(single, short, memory_short, settings),
            Step(
                mid, long, (), warmup=1, repeats=mid_rounds
            ),  # its memory lies between 10 s and the long clip
            self.long_step(long, long + sweep, settings),
        ]

    def bare(self, bench: Bench) -> Call:
        """The audio branch alone on ready 10 s audio ``[B, 480000]`` under ``torch.no_grad``: the log-mel
        (HTK for fusion, slaney otherwise), ``branch.frames``, then the projection of the frames' mean,
        L2-normalised -> frames ``[B, 32, D]`` and clip embeddings ``[B, 512]``; no quantisation, no
        windowing, no checks."""
        encoder: clap.ClapEncoder = bench.model().encoder  # type: ignore[assignment]
        branch = encoder.branch

        def forward(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                htk = encoder.htk_log_mel
                mel = htk(audio) if htk is not None else branch.slaney_log_mel(audio)
                frames = branch.frames(mel[:, None])
                return frames, F.normalize(encoder.projection(frames.mean(1)), dim=-1)

        return forward

    def call(self, method: Method, bench: Bench) -> Call:
        if method.kind == "laion_clap":
            htsat, why_not = self.laion()
            if htsat is None:
                raise RuntimeError(why_not)
            return self.laion_forward(htsat, bench)
        return super().call(method, bench)

    def laion_forward(self, htsat: types.ModuleType, bench: Bench) -> Call:
        """laion_clap 1.1.7's ``HTSAT_Swin_Transformer`` with the model's weights, then the same projection:
        ``[B, 480000]`` -> ``[B, 512]``; fusion: on the HTK log-mel repeated to 4 channels, as laion_clap's
        ``get_audio_features`` builds ``mel_fusion`` for a clip of at most 10 s."""
        encoder: clap.ClapEncoder = bench.model().encoder  # type: ignore[assignment]
        branch = encoder.branch
        config = types.SimpleNamespace(
            model_name=self.size,
            class_num=527,
            window_size=clap_frontend.N_FFT,
            hop_size=clap_frontend.HOP,
            sample_rate=clap_frontend.SAMPLE_RATE,
            mel_bins=clap_frontend.N_MELS,
            fmin=clap_frontend.F_MIN,
            fmax=clap_frontend.F_MAX,
        )
        fusion_type = "aff_2d" if self.fusion else "None"
        reference = htsat.create_htsat_model(
            config, enable_fusion=self.fusion, fusion_type=fusion_type
        ).eval()
        result = reference.load_state_dict(branch.state_dict(), strict=False)
        if result.unexpected_keys:
            raise RuntimeError(f"laion_clap's HTS-AT has no place for {result.unexpected_keys[:5]}")

        def forward(audio: torch.Tensor) -> torch.Tensor:
            longer = torch.zeros(audio.shape[0], 1, dtype=torch.bool)
            with torch.no_grad():
                if encoder.htk_log_mel is not None:
                    mel = encoder.htk_log_mel(
                        audio
                    )  # laion_clap computes it with torchaudio, outside the net
                    inputs = {"mel_fusion": mel[:, None].repeat(1, 4, 1, 1), "longer": longer}
                else:
                    inputs = {"waveform": audio, "longer": longer[:, 0]}
                embedding = reference(inputs, device="cpu")["embedding"]
                return F.normalize(encoder.projection(embedding), dim=-1)

        return forward

    def check(self, bench: Bench) -> dict[str, float]:
        """The wrapper's frames and clip embeddings (and laion_clap's) against the bare forward's, on the
        same quantised 2 x 10 s."""
        audio = self.case(2, 10.0).audio(seed=1)
        model = bench.model()
        bare = cast(tuple[torch.Tensor, torch.Tensor], self.bare(bench)(clap.quantize_int16(audio)))
        frames, embedding = bare
        differences = {
            "timestamp": (clap.get_timestamp_embeddings(audio, model)[0] - frames).abs().max().item(),
            "scene": (clap.get_scene_embeddings(audio, model) - embedding).abs().max().item(),
        }
        htsat = self.laion()[0]
        if htsat is not None:
            laion = cast(torch.Tensor, self.laion_forward(htsat, bench)(clap.quantize_int16(audio)))
            differences["laion_clap"] = (laion - embedding).abs().max().item()
        bad = {name: value for name, value in differences.items() if not value <= 1e-4}
        if bad:
            raise RuntimeError(f"outputs differ from the bare forward's: {bad}")
        return differences

    def describe(self, bench: Bench) -> list[str]:
        why_not = self.laion()[1]
        return [
            f"Model: load_model defaults (frames='raw', pooling='native', quantize=True, long_clips="
            f"{'fusion' if self.fusion else 'windows'!r}, windows_per_batch="
            f"{bench.model().encoder.windows_per_batch}). `bare` = the audio branch alone on ready 10 s "
            "input under `torch.no_grad` (log-mel: HTK for fusion, slaney otherwise; `branch.frames`; "
            "projection of the frames' mean, L2-normalised), no quantisation, windowing or checks; "
            "`laion_clap` = laion_clap 1.1.7's own `HTSAT_Swin_Transformer` forward with the same weights "
            "plus the same projection (fusion: on the same HTK log-mel repeated to 4 channels)"
            + (f" (not measured: {why_not})" if why_not else "")
            + "; `timestamp` / `scene` = the wrapper's `get_timestamp_embeddings` / `get_scene_embeddings` "
            "(over 10 s, scene is the model's long-clip mode); `scene-windows` = scene with "
            "long_clips='windows'; `timestamp-noq` (diagnostic) = timestamp with quantize=False: without "
            "laion_clap's int16 round trip, the one step of the wrapper that `bare` skips and that touches "
            "every sample; `timestamp wpb=N` = timestamp with windows_per_batch=N (memory only)."
        ]

    def extras(self, bench: Bench, rows: list[Any]) -> list[Section]:
        """Timestamps against hear21passt's sliding-window pattern, on 1 x 10 s and 1 x 60 s."""
        k = SLIDING_FORWARDS[bench.settings.quick]
        sliding = [self.time_sliding(bench, self.case(1, seconds), k) for seconds in (10, 60)]
        table = markdown_table(
            [
                "case",
                "hops",
                "k timed",
                "forward s (median)",
                "baseline s (extrapolated)",
                "timestamp s",
                "ratio",
            ],
            [
                [
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
        verdicts = ", ".join(
            f"{s.case}: {s.ratio:.0f}x ({'met' if s.ratio >= SLIDING_TARGET else 'missed'})" for s in sliding
        )
        lines = [
            "**The baseline is extrapolated, not run**: hear21passt's pattern makes one network forward per "
            f"{SLIDING_HOP_SECONDS * 1000:g} ms hop, each on a 10 s window centred on the hop (the clip "
            f"zero-padded by 5 s on both sides). Only k = {k} such single-window forwards (the `bare` "
            "forward on one 10 s window, centres spread evenly over the clip) are timed; baseline = their "
            "median x the number of hops. `timestamp s` is the median of our `get_timestamp_embeddings` on "
            "the same clip, one call timed before each of those forwards (pairs in turn, after 1 warm-up "
            f"pair). ratio = baseline / timestamp; target >= {SLIDING_TARGET:g}x: {verdicts}.",
            "",
            table,
        ]
        data = [asdict(s) | {"baseline_seconds": s.baseline_seconds, "ratio": s.ratio} for s in sliding]
        return [Section("Timestamps against a sliding-window baseline", lines, data)]

    def time_sliding(self, bench: Bench, case: Case, k: int) -> Sliding:
        """The sliding-window baseline of one clip, extrapolated from ``k`` timed single-window forwards."""
        audio = case.audio()
        hop = round(SLIDING_HOP_SECONDS * case.sample_rate)
        n_hops = math.ceil(audio.shape[-1] / hop)
        window = clap.WINDOW_SAMPLES
        padded = F.pad(audio, (window // 2, window // 2))  # window i covers [i * hop - 5 s, i * hop + 5 s)
        forward, model = self.bare(bench), bench.model()
        timestamp = functools.partial(clap.get_timestamp_embeddings, audio, model)
        forwards, ours = [], []
        for j in range(k):
            i = round(j * (n_hops - 1) / max(k - 1, 1))
            pair: dict[str, Callable[[], object]] = {
                "timestamp": timestamp,
                "window": functools.partial(forward, padded[:, i * hop : i * hop + window]),
            }
            timings = time_interleaved(pair, warmup=1 if j == 0 else 0, repeats=1)
            ours += timings["timestamp"].seconds
            forwards += timings["window"].seconds
        sliding = Sliding(case.name, case.seconds, n_hops, forwards, ours)
        print(
            f"{case.name} sliding baseline: {k} forwards, median {statistics.median(forwards):.3f} s x "
            f"{n_hops} hops = {sliding.baseline_seconds:.1f} s (extrapolated) vs timestamp "
            f"{statistics.median(ours):.3f} s: {sliding.ratio:.0f}x",
            flush=True,
        )
        return sliding


PROFILE = ClapProfile
