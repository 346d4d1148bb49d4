"""Combinations of registered models as one HEAR model: e.g. a semantic and an acoustic one side by side.

``load_model(models=["crepe-tiny", "encodec-24khz"])`` builds each member with
`hear_wrappers.create_model` and gives:

* **timestamp embeddings**: every member's frames placed on one common timeline and concatenated, in the
  order of ``models``. The timeline is, by default, the finest member's own (its hop and first frame
  centre), or frames of ``hop_ms`` centred at ``hop_ms / 2, 3 * hop_ms / 2, ...`` when ``hop_ms`` is
  given. A member frame stands for the span of one hop around its centre (`FrameTiming`). Onto each
  timeline frame, a member whose hop is no longer than the timeline's contributes the mean of its frames
  whose spans overlap the timeline frame's span, weighted by the overlap (a member on the timeline's own
  grid gives its frames unchanged); a coarser member is linearly interpolated between its two frame
  centres around the timeline frame's centre (held constant before its first and after its last centre).
  Timestamps are the timeline frames' centres in ms, within the clip, as for every other module.
* **scene embeddings**: every member's own clip embedding (its native head or its pooling, as the member
  would give it alone; a member's pooling can be chosen in its options), concatenated. ``pooling=`` a
  strategy name pools the combined frames instead.
* **normalisation** (``normalize``): ``"l2"`` (default) scales each member's block of every frame and
  clip vector to unit L2 norm, times ``1 / sqrt(n_members)`` (so a whole vector has unit norm); ``"none"``
  concatenates the members' raw values. Members' scales differ by orders of magnitude (CREPE's
  batch-normalised ReLU features sum to tens per frame, EnCodec's latents to units or less), and a
  downstream MLP trained with one learning rate and weight decay sees the large block first. The
  normalisation is training-free, deterministic and uses only the vector itself, so a clip's embedding
  never depends on the other clips of its batch (HEAR's batch invariance). What it drops is each
  member's overall gain per frame, mostly loudness, which several members remove themselves (CREPE
  normalises each window; EnCodec 48 kHz each 1 s segment). Measured through heareval's runners
  (CREPE tiny + SoundStream on ``pitch_timbre``, docs/combined.md): with heareval's MLP, ``"l2"`` had
  the better mean and worst seed and half the spread of ``"none"``, whose raw inputs train so fast
  that heareval sometimes kept a first-validation checkpoint that did not generalise; a linear probe on
  standardised inputs did as well or slightly better with ``"none"``.
* **sample rate**: one HEAR rate for the module (``sample_rate``; default the highest member rate); a
  member at another rate gets its audio resampled inside with julius' windowed-sinc resampler (zero
  phase, so frame times do not move), once per distinct member rate.

Memory and time are the members' sum: members run one after another, each chunking long clips as it
does alone; beyond that the module holds one resampled copy of the batch at a time and the output.

From heareval: ``python -m heareval.embeddings.runner hear_wrappers.combined --model-options
'{"models": ["crepe-tiny", "encodec-24khz"]}'``. A member may be a dict ``{"name": ..., "options":
{...}, "model_file_path": "..."}``; ``model_file_path`` of the combination may be a folder holding the
members' weights under their official file names.

Registered combinations (`SPECS`, ``combined-<member>+<member>``) are ready-made ``models`` lists: the
contract tests and hearvalidator use them with a folder of the members' random weights.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hear_wrappers import crepe, encodec
from hear_wrappers.core.checkpoints import Checkpoint
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.imports import check_installed, require
from hear_wrappers.core.model import (
    HEAR_SAMPLE_RATES,
    NATIVE_POOLING,
    FrameEncoder,
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
)
from hear_wrappers.core.pooling import Pooling, get_pooling
from hear_wrappers.core.registry import ModelFamily, ModelSpec

__all__ = [
    "FAMILY",
    "NORMALIZATIONS",
    "SPECS",
    "CombinedEncoder",
    "Member",
    "align_frames",
    "alignment",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
    "parse_members",
]

Normalization = Literal["l2", "none"]
#: The ``normalize`` choices: per-member unit L2 norm (times ``1 / sqrt(n_members)``), or raw values.
NORMALIZATIONS: tuple[str, ...] = ("l2", "none")
#: The extra that installs the resampler (julius).
RESAMPLER_EXTRA = "encodec"
_EPS = 1e-12

# Member options the combination sets itself: the name chooses the variant, ``progress`` is shared.
_NOT_MEMBER_OPTIONS = ("variant", "progress")


@dataclass(frozen=True)
class Member:
    """One model of a combination, as given in ``models``.

    Attributes:
        name: a registered name (`hear_wrappers.list_models`).
        options: its module's ``load_model`` options (e.g. ``{"pooling": "mean+std"}``).
        model_file_path: its weights file; empty for the official weights, or the file of that name in
            the combination's folder.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    model_file_path: str = ""


def parse_members(models: object) -> list[Member]:
    """Read ``models`` (two or more names or ``{"name", "options", "model_file_path"}`` dicts).

    Raises:
        TypeError: ``models`` is not a list, or an entry is neither a string nor such a dict.
        ValueError: fewer than two members, or a dict with other keys.
    """
    example = '["crepe-tiny", {"name": "encodec-24khz", "options": {"pooling": "mean"}}]'
    if isinstance(models, str) or not isinstance(models, Sequence):
        raise TypeError(
            f"models must be a list of registered model names or dicts, e.g. {example}; got {models!r}."
        )
    if len(models) < 2:
        raise ValueError(f"a combination needs two or more models, got {len(models)}: e.g. models={example}.")
    members = []
    for entry in models:
        if isinstance(entry, str):
            members.append(Member(entry))
            continue
        if not isinstance(entry, Mapping):
            raise TypeError(f"each model is a registered name or a dict like {example}; got {entry!r}.")
        unknown = sorted(set(entry) - {"name", "options", "model_file_path"})
        if unknown or not isinstance(entry.get("name"), str):
            raise ValueError(
                f"a model given as a dict has a 'name' (a registered name) and optionally 'options' and "
                f"'model_file_path'; got {dict(entry)!r}"
                + (f" with unknown key(s) {unknown}." if unknown else " without a name.")
            )
        options = entry.get("options") or {}
        path = entry.get("model_file_path") or ""
        if not isinstance(options, Mapping) or not all(isinstance(key, str) for key in options):
            raise TypeError(
                f"the options of {entry['name']} must be a dict of option names, got {options!r}."
            )
        if not isinstance(path, (str, Path)):
            raise TypeError(f"the model_file_path of {entry['name']} must be a path, got {path!r}.")
        members.append(Member(entry["name"], dict(options), str(path)))
    return members


def _member_parameters(spec: ModelSpec) -> dict[str, inspect.Parameter]:
    """The keyword options of a member's ``load_model``, except those the combination sets."""
    import importlib

    from hear_wrappers.core.registry import get_family

    family = get_family(spec.family)
    module = importlib.import_module(spec.module)
    skip = {*_NOT_MEMBER_OPTIONS, *family.variant_aliases}
    return {
        p.name: p
        for p in inspect.signature(module.load_model).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in skip
    }


def check_member(member: Member) -> ModelSpec:
    """Check a member's name, options and pooling without building it; return its spec.

    Raises:
        ValueError: an unknown name, a bad option value or pooling (the member family's own checks).
        TypeError: an option its ``load_model`` does not have (the message lists those it has).
        MissingExtraError: the member's extra is not installed.
    """
    from hear_wrappers.core.registry import get_family, get_spec

    spec = get_spec(member.name)
    family = get_family(spec.family)
    parameters = _member_parameters(spec)
    unknown = sorted(set(member.options) - set(parameters))
    if unknown:
        raise TypeError(
            f"{member.name} does not take option(s) {unknown} in a combination: its options are "
            f"{sorted(parameters)} (the name chooses the variant; progress is the combination's)."
        )
    pooling = member.options.get("pooling")
    if pooling is not None:
        if pooling == NATIVE_POOLING:
            spec.clip_embedding_size(NATIVE_POOLING)  # a ValueError if the member has no head of its own
        else:
            get_pooling(pooling)
    own = {name: p.default for name, p in parameters.items() if name != "pooling"}
    own.update({k: v for k, v in member.options.items() if k != "pooling"})
    family.check_options(spec, own)
    check_installed(family.requires, extra=family.extra)
    return spec


def _check_choices(sample_rate: int | None, hop_ms: float | None, normalize: str, pooling: object) -> None:
    if sample_rate is not None and sample_rate not in HEAR_SAMPLE_RATES:
        raise ValueError(
            f"sample_rate must be one of HEAR's rates {HEAR_SAMPLE_RATES} Hz (or None), got {sample_rate}."
        )
    if hop_ms is not None and (
        isinstance(hop_ms, bool) or not isinstance(hop_ms, (int, float)) or not hop_ms > 0
    ):
        raise ValueError(
            f"hop_ms must be a positive number of milliseconds (or None for the finest member's), "
            f"got {hop_ms!r}."
        )
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {list(NORMALIZATIONS)}, got {normalize!r}.")
    if pooling is not None and pooling != NATIVE_POOLING:
        get_pooling(pooling)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Alignment of frames on a common timeline
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Frame centres ``first + k * hop`` (seconds), ``k = 0 .. count - 1``; frame ``k`` spans one hop
    around its centre."""

    hop: float
    first: float
    count: int


def alignment(source: Grid, target: Grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Which source frames make each target frame, and with what weights.

    A source no coarser than the target (``source.hop <= target.hop``): the source frames whose spans
    overlap the target frame's span, weighted by the length of the overlap, normalised to sum to one;
    a target frame that overlaps none (past the last source frame) takes the nearest source frame. A
    coarser source: linear interpolation between the two source centres around the target centre,
    held at the first/last source frame outside them.

    Returns:
        ``(index, weight)``: int64 ``[target.count, K]`` source frame indices and float64 weights
        ``[target.count, K]`` summing to one per row; target frame ``t`` is
        ``sum_k weight[t, k] * source[index[t, k]]``.
    """
    if source.count < 1 or target.count < 1:
        raise ValueError(f"both grids need frames, got {source.count} and {target.count}.")
    numbers = torch.arange(target.count, dtype=torch.float64)
    centres = target.first + numbers * target.hop
    last = source.count - 1
    if source.hop > target.hop:
        position = ((centres - source.first) / source.hop).clamp(0, last)
        lower = position.floor().clamp(max=max(last - 1, 0))
        fraction = position - lower
        index = torch.stack([lower, (lower + 1).clamp(max=last)], dim=1).long()
        weight = torch.stack([1 - fraction, fraction], dim=1)
        return index, weight
    # Spans computed as the source's are, so that a source on the target's grid gets weights exactly 1.
    starts, ends = target.first + (numbers - 0.5) * target.hop, target.first + (numbers + 0.5) * target.hop
    taps = math.ceil(target.hop / source.hop) + 2
    lowest = ((starts - source.first) / source.hop - 0.5).floor()
    candidates = lowest[:, None] + torch.arange(taps, dtype=torch.float64)  # [T, K] frame numbers
    source_starts = source.first + (candidates - 0.5) * source.hop
    source_ends = source.first + (candidates + 0.5) * source.hop
    overlap = (
        torch.minimum(source_ends, ends[:, None]) - torch.maximum(source_starts, starts[:, None])
    ).clamp_min(0)
    overlap = torch.where((candidates >= 0) & (candidates <= last), overlap, torch.zeros_like(overlap))
    index = candidates.clamp(0, last).long()
    total = overlap.sum(dim=1, keepdim=True)
    weight = overlap / total.clamp_min(torch.finfo(torch.float64).tiny)
    empty = total[:, 0] <= 0
    if empty.any():
        nearest = ((centres[empty] - source.first) / source.hop).round().clamp(0, last).long()
        index[empty] = nearest[:, None]
        weight[empty] = 0.0
        weight[empty, 0] = 1.0
    return index, weight


def align_frames(frames: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``[B, T_source, D]`` -> ``[B, T_target, D]`` with an `alignment`; one pass per tap, so memory stays
    at the output's size. Taps of weight exactly 0 are skipped, so a source on the target's own grid is
    copied unchanged."""
    index = index.to(frames.device)
    weight = weight.to(device=frames.device, dtype=frames.dtype)
    out = frames.new_zeros(frames.shape[0], index.shape[0], frames.shape[2])
    for tap in range(index.shape[1]):
        if not bool((weight[:, tap] != 0).any()):
            continue
        out += weight[None, :, tap, None] * frames[:, index[:, tap]]
    return out


def _normalize(block: torch.Tensor, how: str, n_members: int) -> torch.Tensor:
    if how == "none":
        return block
    norm = torch.linalg.vector_norm(block, dim=-1, keepdim=True).clamp_min(_EPS)
    return block / norm * (1.0 / math.sqrt(n_members))


# ---------------------------------------------------------------------------------------------------
# The encoder
# ---------------------------------------------------------------------------------------------------


class CombinedEncoder(FrameEncoder):
    """Audio ``[B, N]`` at ``sample_rate`` -> the members' frames on one timeline ``[B, T, sum D_m]``.

    Args:
        members: the members' `HearModel` s, in block order.
        names: their registered names (for messages and `extra_repr`).
        sample_rate: the module's HEAR rate in Hz; None for the highest member rate.
        hop_ms: the timeline's hop in ms (frames centred at ``hop_ms / 2 + k * hop_ms``); None for the
            finest member's own timeline (its hop and first centre; the first such member on a tie).
        normalize: ``"l2"`` or ``"none"`` (see the module docstring).
    """

    def __init__(
        self,
        members: Sequence[HearModel],
        names: Sequence[str],
        *,
        sample_rate: int | None = None,
        hop_ms: float | None = None,
        normalize: Normalization = "l2",
    ) -> None:
        super().__init__()
        _check_choices(sample_rate, hop_ms, normalize, None)
        if len(members) < 2 or len(members) != len(names):
            raise ValueError(f"a combination needs two or more members with names, got {len(members)}.")
        self.members = nn.ModuleList(members)
        self._models: list[HearModel] = list(members)  # the same modules, typed
        self.names = tuple(names)
        self.normalize = normalize
        rate = sample_rate or max(m.sample_rate for m in members)
        self._julius = None
        if any(m.sample_rate != rate for m in members):
            self._julius = require("julius", extra=RESAMPLER_EXTRA)
        #: each member's timeline in seconds (hop and first centre at its own rate, exactly)
        self._grids = [
            (
                m.encoder.timing.hop_samples / m.sample_rate,
                m.encoder.timing.first_centre_samples / m.sample_rate,
            )
            for m in members
        ]
        if hop_ms is None:
            finest = min(range(len(members)), key=lambda i: self._grids[i][0])
            self._hop_s, self._first_s = self._grids[finest]
        else:
            self._hop_s, self._first_s = hop_ms / 1000, hop_ms / 2000
        self.timing = FrameTiming(
            rate, hop_samples=self._hop_s * rate, first_centre_samples=self._first_s * rate
        )
        self.embedding_size = sum(m.timestamp_embedding_size for m in members)
        self.clip_embedding_size = sum(m.scene_embedding_size for m in members)
        self.min_samples = max(-(-m.encoder.min_samples * rate // m.sample_rate) for m in members)
        self.member_rates = tuple(m.sample_rate for m in members)
        self.block_sizes = tuple(m.timestamp_embedding_size for m in members)
        self.clip_block_sizes = tuple(m.scene_embedding_size for m in members)

    def num_frames(self, n_samples: int) -> int:
        """Timeline frames with their centre inside the clip (at least one)."""
        return self.timing.frames_within(n_samples)

    def member_samples(self, n_samples: int, member: HearModel) -> int:
        """Length of a member's copy of a clip of ``n_samples``: ``floor(n * member rate / rate)``."""
        return n_samples * member.sample_rate // self.timing.sample_rate

    def _by_rate(self, audio: torch.Tensor) -> Iterator[tuple[torch.Tensor, list[int]]]:
        """``(audio at a member rate, [indices of the members at that rate])``, one copy at a time."""
        rates: dict[int, list[int]] = {}
        for i, member_rate in enumerate(self.member_rates):
            rates.setdefault(member_rate, []).append(i)
        for rate, indices in rates.items():
            if rate == self.timing.sample_rate:
                yield audio, indices
            else:
                assert self._julius is not None
                length = audio.shape[1] * rate // self.timing.sample_rate
                yield (
                    self._julius.resample_frac(audio, self.timing.sample_rate, rate, output_length=length),
                    indices,
                )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, num_frames(N), embedding_size]``: each member's block aligned, normalised."""
        n_sounds, n_samples = audio.shape
        count = self.num_frames(n_samples)
        target = Grid(self._hop_s, self._first_s, count)
        out = audio.new_empty(n_sounds, count, self.embedding_size)
        offsets = [0, *torch.tensor(self.block_sizes).cumsum(0).tolist()]
        for member_audio, indices in self._by_rate(audio):
            for i in indices:
                member = self._models[i]
                timing = member.encoder.timing
                frames = member.encoder(member_audio)[
                    :, : timing.frames_within(member_audio.shape[1])
                ].float()
                hop, first = self._grids[i]
                source = Grid(hop, first, frames.shape[1])
                aligned = align_frames(frames, *alignment(source, target))
                del frames
                out[:, :, offsets[i] : offsets[i + 1]] = _normalize(
                    aligned, self.normalize, len(self.members)
                )
        return out

    def embed_clips(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, clip_embedding_size]``: each member's own clip embedding, normalised, concatenated."""
        out = audio.new_empty(audio.shape[0], sum(self.clip_block_sizes))
        offsets = [0, *torch.tensor(self.clip_block_sizes).cumsum(0).tolist()]
        for member_audio, indices in self._by_rate(audio):
            for i in indices:
                clips = self._models[i].scene_embeddings(member_audio)
                out[:, offsets[i] : offsets[i + 1]] = _normalize(clips, self.normalize, len(self.members))
        return out

    def extra_repr(self) -> str:
        return f"names={list(self.names)}, normalize={self.normalize!r}, hop_ms={self.timing.hop_ms:.4f}"


# ---------------------------------------------------------------------------------------------------
# Registered combinations and the family
# ---------------------------------------------------------------------------------------------------

#: Ready-made combinations: variant (``"+"``-joined member names) -> member names.
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "crepe-tiny+encodec-24khz": ("crepe-tiny", "encodec-24khz"),
}

# Member specs come straight from their modules (the registry may be importing this module).
_MEMBER_SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (*crepe.SPECS, *encodec.SPECS)}
_MEMBER_REQUIRES = {"crepe": crepe.FAMILY.requires, "encodec": encodec.FAMILY.requires}


@dataclass(frozen=True)
class MemberWeights(Checkpoint):
    """A registered combination's weights: no file of its own, its members' files (in a folder, each
    under its official name, or each member's official source)."""

    members: tuple[Checkpoint, ...] = ()

    def __init__(self, name: str, members: tuple[Checkpoint, ...]) -> None:
        licenses = "; ".join(f"{member.name}: {member.license}" for member in members)
        for key, value in (("name", name), ("license", licenses), ("members", members)):
            object.__setattr__(self, key, value)
        for key in ("url", "sha256", "filename", "hub_repo", "hub_revision"):
            object.__setattr__(self, key, "")
        object.__setattr__(self, "packaged", None)

    @property
    def source(self) -> str:
        """The members' sources."""
        return "the members' files: " + "; ".join(member.source for member in self.members)


def _combination_spec(variant: str, names: Sequence[str]) -> ModelSpec:
    specs = [_MEMBER_SPECS[name] for name in names]
    return ModelSpec(
        family="combined",
        variant=variant,
        description="combination of " + " and ".join(names) + " (frames on the finest timeline, clip heads)",
        sample_rate=max(spec.sample_rate for spec in specs),
        frame_hop_ms=min(spec.frame_hop_ms for spec in specs),
        frame_size=sum(spec.frame_size for spec in specs),
        default_pooling=NATIVE_POOLING,
        weights=MemberWeights(variant, tuple(spec.weights for spec in specs)),
        extra=",".join(dict.fromkeys(spec.extra for spec in specs)),
        native_clip_size=sum(spec.clip_embedding_size() for spec in specs),
    )


#: The registered combinations (``combined-<variant>``).
SPECS = tuple(_combination_spec(variant, names) for variant, names in COMBINATIONS.items())


class CombinedFamily(ModelFamily):
    """Combinations of registered models; a registered combination's weights are a folder holding its
    members' files under their official names."""

    name = "combined"
    title = "combination"
    extra = RESAMPLER_EXTRA
    default_variant = "crepe-tiny+encodec-24khz"

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        super().__init__(specs)
        needed = {_MEMBER_SPECS[n].family for names in COMBINATIONS.values() for n in names}
        self.requires = tuple(dict.fromkeys(m for family in sorted(needed) for m in _MEMBER_REQUIRES[family]))
        self.requires = tuple(dict.fromkeys((*self.requires, "julius")))

    def members(self, spec: ModelSpec) -> tuple[str, ...]:
        """The member names of a registered combination."""
        return COMBINATIONS[spec.variant]

    def read(self, spec: ModelSpec, path: Path) -> Path:
        """A combination's weights are a folder: the path itself."""
        return Path(path)

    def identify(self, weights: Path) -> tuple[str, ...]:
        """The registered combinations whose members' official files are all in the folder."""
        folder = Path(weights)
        if not folder.is_dir():
            return ()
        return tuple(
            variant
            for variant, names in COMBINATIONS.items()
            if all((folder / _MEMBER_SPECS[n].weights.filename).is_file() for n in names)
        )

    def build(self, spec: ModelSpec, weights: Path, options: dict[str, Any]) -> CombinedEncoder:
        return self._build(parse_members(list(self.members(spec))), str(weights), **options)

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        """Each member's random-weight file, under its official name, in ``folder``; returns ``folder``."""
        from hear_wrappers.core.registry import get_family

        for name in self.members(spec):
            member_spec = _MEMBER_SPECS[name]
            get_family(member_spec.family).write_random_weights(member_spec, folder)
        return folder

    def _build(
        self,
        members: Sequence[Member],
        folder: str,
        *,
        sample_rate: int | None = None,
        hop_ms: float | None = None,
        normalize: Normalization = "l2",
        progress: bool = True,
    ) -> CombinedEncoder:
        from hear_wrappers.core.registry import create_model

        models = []
        for member in members:
            path = member.model_file_path or folder
            models.append(create_model(member.name, path, progress=progress, **member.options))
        return CombinedEncoder(
            models, [m.name for m in members], sample_rate=sample_rate, hop_ms=hop_ms, normalize=normalize
        )

    def load(  # type: ignore[override]
        self,
        model_file_path: str | Path = "",
        *,
        variant: str | None = None,
        pooling: str | Pooling | None = None,
        progress: bool = True,
        models: Sequence[str | Mapping[str, Any]] | None = None,
        sample_rate: int | None = None,
        hop_ms: float | None = None,
        normalize: Normalization = "l2",
    ) -> HearModel:
        """Check everything, then build the members and the combination (see `load_model`)."""
        folder = str(model_file_path or "")
        if folder and not Path(folder).is_dir():
            raise ValueError(
                f"model_file_path of a combination is a folder holding the members' weights under their "
                f"official file names, got {folder!r}: give each member's file as "
                f'{{"name": ..., "model_file_path": ...}} in models instead.'
            )
        if models is not None and variant is not None:
            raise TypeError(
                f"give either models or a registered combination (variant={variant!r}), not both."
            )
        if models is None:
            if variant is None:
                found = self.identify(Path(folder)) if folder else ()
                variant = found[0] if found else self.default_variant
            models = list(self.members(self.spec(variant)))
        members = parse_members(models)
        _check_choices(sample_rate, hop_ms, normalize, pooling)
        for member in members:
            check_member(member)
        encoder = self._build(
            members, folder, sample_rate=sample_rate, hop_ms=hop_ms, normalize=normalize, progress=progress
        )
        return HearModel(encoder, pooling=pooling or NATIVE_POOLING)


FAMILY = CombinedFamily(SPECS)


@FAMILY.hear_load_model
def load_model(
    *,
    models: Sequence[str | Mapping[str, Any]] | None = None,
    sample_rate: int | None = None,
    hop_ms: float | None = None,
    normalize: Normalization = "l2",
) -> None:
    """Load a combination of registered models for HEAR.

    Args:
        model_file_path: empty (every member uses its official weights, or its own
            ``model_file_path``), or a folder holding the members' weights files under their official
            names (what `write_random_weights` writes).
        variant: a registered combination (`COMBINATIONS`), e.g. ``"crepe-tiny+encodec-24khz"``.
        models: two or more members, each a registered name (``"crepe-tiny"``) or a dict
            ``{"name": ..., "options": {...}, "model_file_path": "..."}``; blocks come in this order.
            None for a registered combination (``variant``; with a folder and no variant, the one
            whose members' files the folder holds).
        sample_rate: the module's HEAR rate in Hz; None for the highest member rate.
        hop_ms: the timeline's hop in ms; None for the finest member's own frames' timeline.
        normalize: ``"l2"`` (each member's block to unit norm times ``1 / sqrt(n_members)``) or
            ``"none"``.

    With ``pooling`` None or ``"native"``, the clip embedding is the members' own clip embeddings,
    concatenated (``scene_embedding_size`` is the sum of theirs); a pooling strategy's name pools the
    combined frames instead. The timestamp embedding size is the sum of the members' frame sizes.

    Raises:
        ValueError, TypeError: an unknown name, a bad option of a member or of the combination (all
            checked before any member is built).
    """
