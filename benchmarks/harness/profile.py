"""What a benchmark measures for one registered model: cases, methods, weights and the bare forward.

`Profile` is the default for any registered model: random weights in the official format
(`hear_wrappers.core.registry.write_random_weights`), three methods (``bare``: the model's
`FrameEncoder` alone, without the core's input checks, trimming and pooling; ``timestamp`` and
``scene``: the HEAR functions of the model's module), on 4 x 10 s, 1 x 10 s and 1 x the long clip,
timed and measured for memory. A family whose model needs more (a bare forward as the model's own
code runs it, real weights, extra methods or sections) subclasses it in ``benchmarks/families/<family>.py``
as ``PROFILE``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import torch

from hear_wrappers.core.model import HearModel
from hear_wrappers.core.registry import ModelSpec, create_model, write_random_weights

__all__ = [
    "MEMORY_TARGET",
    "WRAPPER_TARGET",
    "Bench",
    "Call",
    "Case",
    "Method",
    "Profile",
    "Section",
    "Settings",
    "Step",
    "Weights",
]

WRAPPER_TARGET = 1.05  # wrapper time / bare time
MEMORY_TARGET = 1.3  # peak RSS of 1 x long clip / 1 x 10 s
SHORT_SECONDS = 10.0  # the reference clip of the memory ratios

Call = Callable[[torch.Tensor], object]


@dataclass(frozen=True)
class Case:
    """A benchmark input: ``n_clips`` clips of ``seconds`` seconds of Gaussian noise x 0.1."""

    n_clips: int
    seconds: float
    sample_rate: int

    @property
    def name(self) -> str:
        return f"{self.n_clips} x {self.seconds:g} s"

    @property
    def audio_seconds(self) -> float:
        return self.n_clips * self.seconds

    @property
    def is_long(self) -> bool:
        """One clip longer than the 10 s reference: its memory is compared with 1 x 10 s."""
        return self.n_clips == 1 and self.seconds > SHORT_SECONDS

    def audio(self, seed: int = 0) -> torch.Tensor:
        """``[n_clips, round(seconds * sample_rate)]`` float32 noise, the same for the same seed."""
        generator = torch.Generator().manual_seed(seed)
        n_samples = round(self.seconds * self.sample_rate)
        return torch.randn(self.n_clips, n_samples, generator=generator) * 0.1


@dataclass(frozen=True)
class Method:
    """One measured call on a batch of audio.

    Attributes:
        name: the row's name in the tables (``bare``, ``timestamp``, ``timestamp fpb=64`` ...).
        call: what is called: ``bare`` (`Profile.bare`), ``timestamp`` / ``scene`` (the HEAR
            functions), ``encoder`` (the model's `FrameEncoder` alone) or a key of the family's own
            `Profile.call`; empty for ``name``.
        options: load options of the model it calls, beyond the defaults (e.g. ``{"workers": 1}``).
        baseline: the method its time is divided by in the same case (None: no ratio).
        like: the method whose 1 x 10 s row its long-clip memory is divided by (empty: itself).
        wrapper: a call of hear-wrappers (False for the bare forward and other references): the
            targets apply to it.
    """

    name: str
    call: str = ""
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    baseline: str | None = "bare"
    like: str = ""
    wrapper: bool = True

    @property
    def kind(self) -> str:
        return self.call or self.name

    @property
    def is_wrapper(self) -> bool:
        """A call of the wrapper with load_model's default options (what the targets are about)."""
        return self.wrapper and not self.options


@dataclass(frozen=True)
class Step:
    """One case: the methods timed in-process (interleaved rounds) and those measured for memory."""

    case: Case
    timed: tuple[str, ...]
    memory: tuple[str, ...] = ()
    warmup: int = 1
    repeats: int = 3


@dataclass(frozen=True)
class Settings:
    """The command line's choices (see ``benchmarks/bench.py --help``)."""

    quick: bool = False
    threads: int = 1
    repeats: int | None = None
    long_repeats: int | None = None
    long_seconds: float = 600.0
    weights: Path | None = None


@dataclass(frozen=True)
class Section:
    """A family-specific part of the report: a markdown section and its figures for the JSON."""

    title: str
    lines: list[str]
    data: Any = None


@dataclass(frozen=True)
class Weights:
    """The weights file measured and where it came from (for the report)."""

    path: Path
    source: str


class Bench:
    """One model under measurement: its spec, weights, and the models its methods call (built once)."""

    def __init__(self, spec: ModelSpec, weights: Weights, settings: Settings) -> None:
        self.spec = spec
        self.weights = weights
        self.settings = settings
        self.module: ModuleType = importlib.import_module(spec.module)
        self._models: dict[tuple[tuple[str, Any], ...], HearModel] = {}

    def model(self, **options: Any) -> HearModel:
        """The model with load_model's defaults apart from ``options`` (built on first use)."""
        key = tuple(sorted(options.items()))
        if key not in self._models:
            self._models[key] = create_model(self.spec.name, self.weights.path, progress=False, **options)
        return self._models[key]

    def release(self) -> None:
        """Drop the models built so far."""
        self._models.clear()


class Profile:
    """How any registered model is benchmarked; families refine it (see the module docstring).

    Args:
        spec: the registered model.
    """

    #: Timed rounds of each short case: (full run, ``--quick``).
    repeats: tuple[int, int] = (3, 2)
    #: Timed rounds of the long clip: (full run, ``--quick``).
    long_repeats: tuple[int, int] = (1, 1)

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    # --- what is measured ------------------------------------------------------------------------
    def weights(self, folder: Path, given: Path | None) -> Weights:
        """``given`` (``--weights``), else random weights in the official file format in ``folder``."""
        if given is not None:
            return Weights(given, f"--weights {given}")
        path = write_random_weights(self.spec.name, folder)
        return Weights(path, "random weights in the official file format (write_random_weights)")

    def methods(self) -> dict[str, Method]:
        """Every method the plan may name, by name."""
        return {
            m.name: m
            for m in (Method("bare", baseline=None, wrapper=False), Method("timestamp"), Method("scene"))
        }

    def case(self, n_clips: int, seconds: float) -> Case:
        return Case(n_clips, seconds, self.spec.sample_rate)

    def plan(self, settings: Settings) -> list[Step]:
        """4 x 10 s, 1 x 10 s and 1 x the long clip; every method timed and measured for memory."""
        methods = tuple(self.methods())
        return [
            *(
                self.short_step(case, methods, methods, settings)
                for case in (self.case(4, 10), self.case(1, 10))
            ),
            self.long_step(methods, methods, settings),
        ]

    def short_step(
        self, case: Case, timed: tuple[str, ...], memory: tuple[str, ...], settings: Settings
    ) -> Step:
        """A case timed after 1 warm-up round, with the short cases' rounds."""
        return Step(case, timed, memory, warmup=1, repeats=self.rounds(settings))

    def long_step(self, timed: tuple[str, ...], memory: tuple[str, ...], settings: Settings) -> Step:
        """1 x the long clip, timed without a warm-up round (the kernels are warm from the short cases)."""
        repeats = settings.long_repeats or self.long_repeats[settings.quick]
        return Step(self.case(1, settings.long_seconds), timed, memory, warmup=0, repeats=repeats)

    def rounds(self, settings: Settings) -> int:
        return settings.repeats or self.repeats[settings.quick]

    # --- the calls -------------------------------------------------------------------------------
    def bare(self, bench: Bench) -> Call:
        """The model alone (the one model-specific hook): by default the wrapper's `FrameEncoder`
        under ``torch.no_grad``, without the core's input checks, frame trimming and pooling."""
        encoder = bench.model().encoder

        def forward(audio: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return encoder(audio)

        return forward

    def call(self, method: Method, bench: Bench) -> Call:
        """The callable measured for ``method``, on a batch ``[n_clips, n_samples]``."""
        if method.kind == "bare":
            return self.bare(bench)
        model = bench.model(**method.options)
        if method.kind == "encoder":
            return model.encoder
        function = {
            "timestamp": bench.module.get_timestamp_embeddings,
            "scene": bench.module.get_scene_embeddings,
        }.get(method.kind)
        if function is None:
            raise ValueError(f"{self.spec.name}: no call {method.kind!r} for method {method.name!r}.")
        return lambda audio: function(audio, model)

    # --- the report ------------------------------------------------------------------------------
    def check(self, bench: Bench) -> dict[str, float]:
        """Before timing: max |difference| of the wrapper against the bare forward, by what is
        compared; raise RuntimeError when they differ (the comparison would be void). {} if unchecked."""
        return {}

    def describe(self, bench: Bench) -> list[str]:
        """What the methods are, for the report."""
        return [
            "`bare` = the model's `FrameEncoder` alone under `torch.no_grad` (no input checks, frame "
            "trimming or pooling); `timestamp` / `scene` = the module's `get_timestamp_embeddings` / "
            "`get_scene_embeddings` with load_model's defaults."
        ]

    def extras(self, bench: Bench, rows: list[Any]) -> list[Section]:
        """Family-specific measurements and sections, after the planned rows."""
        return []
