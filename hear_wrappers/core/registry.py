"""The model registry: every released checkpoint by name, described without loading anything.

One `ModelSpec` per released checkpoint or variant answers what a researcher (or a tool working on
sets of models: the contract tests, the benchmarks, the scale-out runner, other suites' adapters)
needs before building anything: sample rate, frame hop and size, clip-embedding size for a pooling,
default pooling, the extra to install, where the weights come from and their licence. Specs live in
their model's module (``hear_wrappers/encodec.py`` ...) beside its encoder, in a `ModelFamily`:

* ``list_models(pattern="*")`` - registered names, e.g. ``["clap-630k-audioset-best", ...]``;
* ``get_spec(name)`` - the `ModelSpec`; imports our model module only, never a model library;
* ``create_model(name, model_file_path="", **options)`` - a ready `HearModel`.

Every model loads through one pipeline, `ModelFamily.load` (what each module's ``load_model`` calls):
options are checked before any download; the weights are resolved (`resolve_checkpoint`: URL + sha256,
hub file at a pinned commit, file shipped in a wheel, or a local path) and read once; a local file
given without a variant loads as the variant it is (recognised from its keys and shapes, said in one
log line), while an explicit variant that disagrees is a clear error naming the right one.

Adding a model: a module ``hear_wrappers/<family>.py`` with its specs, its encoder and a ``FAMILY``
(a `ModelFamily` subclass instance), plus its name in `FAMILY_MODULES` (see docs/architecture.md).
"""

from __future__ import annotations

import abc
import fnmatch
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import hear_wrappers
from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointMismatchError,
    load_state_dict,
    resolve_checkpoint,
)
from hear_wrappers.core.imports import check_installed
from hear_wrappers.core.model import NATIVE_POOLING, FrameEncoder, HearModel
from hear_wrappers.core.pooling import Pooling, get_pooling

__all__ = [
    "FAMILY_MODULES",
    "ModelFamily",
    "ModelSpec",
    "create_model",
    "get_family",
    "get_spec",
    "list_models",
    "write_random_weights",
]

log = logging.getLogger("hear_wrappers")

#: The modules that hold the registered model families (``hear_wrappers.<name>``, each with ``FAMILY``).
FAMILY_MODULES: tuple[str, ...] = hear_wrappers.FAMILIES


@dataclass(frozen=True)
class ModelSpec:
    """One released checkpoint or variant of a model, as the registry lists it.

    Attributes:
        family: the model family, also its HEAR module's name (``hear_wrappers.<family>``).
        variant: the family's name for this checkpoint (``load_model(variant=...)``).
        description: one line on what the model is.
        sample_rate: Hz of the audio the HEAR functions take (one of HEAR's rates).
        frame_hop_ms: milliseconds between frame centres, with the default options.
        frame_size: size of each timestamp embedding, with the default options.
        default_pooling: the clip embedding the model gives by default: a pooling strategy's name, or
            ``"native"`` for the model's own clip head.
        weights: the official weights file (`Checkpoint`: source, checksum, licence).
        extra: the pip extra that installs what the model needs: ``hear-wrappers[<extra>]``.
        native_clip_size: size of the model's own clip embedding; None if it has none.
        name: the registry name, ``<family>-<variant>`` unless given (e.g. ``"encodec-24khz"``).
    """

    family: str
    variant: str
    description: str
    sample_rate: int
    frame_hop_ms: float
    frame_size: int
    default_pooling: str
    weights: Checkpoint
    extra: str
    native_clip_size: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.family}-{self.variant}")

    @property
    def module(self) -> str:
        """The HEAR module heareval imports for this model."""
        return f"hear_wrappers.{self.family}"

    @property
    def license(self) -> str:
        """Licence of the weights."""
        return self.weights.license

    def clip_embedding_size(self, pooling: str | None = None) -> int:
        """Size of the clip (scene) embedding with ``pooling`` (default: `default_pooling`)."""
        pooling = pooling or self.default_pooling
        if pooling == NATIVE_POOLING:
            if self.native_clip_size is None:
                raise ValueError(f"{self.name} has no clip embedding of its own: choose a pooling strategy.")
            return self.native_clip_size
        return get_pooling(pooling).output_size(self.frame_size)


class ModelFamily(abc.ABC):
    """How the models of one family are built and loaded; each model module defines one as ``FAMILY``.

    Subclasses set `name`, `extra` and `default_variant`, and implement `check_options`, `identify`,
    `build` and `write_random_weights`; `read` reads a PyTorch state dict unless overridden (e.g.
    TFLite bytes). An instance is made from the family's specs: ``FAMILY = EncodecFamily(SPECS)``.

    Args:
        specs: the family's released checkpoints; each ``spec.family`` must be the family's name.
    """

    #: Family name: the HEAR module is ``hear_wrappers.<name>``.
    name: str
    #: The pip extra that installs the family's model library.
    extra: str
    #: The variant ``load_model()`` gives with no arguments.
    default_variant: str
    #: How people write the family's name (e.g. ``"EnCodec"``), for messages.
    title: str = ""
    #: Top-level modules the family needs (from its extra), checked before any download.
    requires: tuple[str, ...] = ()
    #: Other names users may pass the variant as (e.g. CLAP's historical ``checkpoint=``).
    variant_aliases: tuple[str, ...] = ()

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        #: The family's released checkpoints, by variant name (``spec.variant``).
        self.specs: Mapping[str, ModelSpec] = {spec.variant: spec for spec in specs}
        wrong = [spec.name for spec in specs if spec.family != self.name]
        if wrong or self.default_variant not in self.specs:
            raise ValueError(
                f"family {self.name}: specs {wrong} or default {self.default_variant!r} do not fit."
            )

    # --- hooks -----------------------------------------------------------------------------------
    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:  # noqa: B027
        """Refuse bad option values with a `ValueError` naming the fix, before any download.

        ``options`` holds the family's own options (not ``pooling`` or ``progress``); it may be
        updated in place with defaults that depend on the spec.
        """

    def read(self, spec: ModelSpec, path: Path) -> Any:
        """The content of a weights file: by default a flat state dict, memory-mapped."""
        return load_state_dict(path, what=self.describe(spec), mmap=True)

    @abc.abstractmethod
    def identify(self, weights: Any) -> tuple[str, ...]:
        """The variants whose architecture ``weights`` fits (first: the preferred one); () if unknown."""

    def resolve_extra_files(  # noqa: B027
        self, spec: ModelSpec, path: Path, options: dict[str, Any], *, progress: bool = True
    ) -> None:
        """Find (or download, with a progress bar if ``progress``) any further file that ``options``
        need beside the weights at ``path`` (e.g. SoundStream's quantizer), and put its local path
        into ``options``; by default there is none."""

    @abc.abstractmethod
    def build(self, spec: ModelSpec, weights: Any, options: dict[str, Any]) -> FrameEncoder:
        """The encoder of ``spec`` with ``weights`` loaded (raise `CheckpointMismatchError` if they
        do not fit), configured by ``options``."""

    @abc.abstractmethod
    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        """Write a checkpoint of ``spec``'s real architecture with random weights, in the official
        file format and under the official file name, into ``folder``; return its path (tests)."""

    # --- shared behaviour --------------------------------------------------------------------------
    def save_weights(self, spec: ModelSpec, folder: Path, content: Any) -> Path:
        """``torch.save(content)`` under ``spec``'s official file name in ``folder``; its path
        (for `write_random_weights` of families whose official files are PyTorch pickles)."""
        path = folder / spec.weights.filename
        torch.save(content, path)
        return path

    def describe(self, spec: ModelSpec) -> str:
        """How messages name the model (e.g. ``"encodec-24khz"``)."""
        return spec.name

    def spec(self, variant: str) -> ModelSpec:
        """The spec of ``variant``, or a `ValueError` listing the family's variants."""
        try:
            return self.specs[variant]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown {self.title or self.name} variant {variant!r}: choose one of {sorted(self.specs)}."
            ) from None

    def load(
        self,
        model_file_path: str | Path = "",
        *,
        variant: str | None = None,
        pooling: str | Pooling | None = None,
        progress: bool = True,
        **options: Any,
    ) -> HearModel:
        """The one load pipeline every model module's ``load_model`` calls.

        Args:
            model_file_path: a local weights file (or a folder holding the official file name); empty
                for the official weights (packaged, cached, or downloaded on first use).
            variant: which checkpoint (a key of `specs`); None for `default_variant`, or, with a
                local file, for the variant the file is.
            pooling: the clip embedding: a pooling strategy's name or ``"native"``; None for the
                spec's default.
            progress: show a progress bar while downloading.
            **options: the family's own options (see its ``load_model``).

        Raises:
            ValueError, TypeError: a bad variant, pooling or option (before any file is touched).
            CheckpointMismatchError: the file is another model's, or another variant's than the one
                asked for (the message names the right one).
        """
        explicit = variant is not None
        spec = self.spec(variant if variant is not None else self.default_variant)
        if pooling is not None and pooling != NATIVE_POOLING:
            get_pooling(pooling)  # refuse a bad name before any download
        self.check_options(spec, dict(options))
        check_installed(self.requires, extra=self.extra)
        path = resolve_checkpoint(spec.weights, model_file_path, extra=self.extra, progress=progress)
        weights = self.read(spec, path)
        fits = self.identify(weights)
        if fits and spec.variant not in fits:
            if explicit or not model_file_path:
                raise CheckpointMismatchError(
                    f"{path} holds {self._names(fits)}, not {spec.name}: pass variant={fits[0]!r} (or "
                    f"leave variant out to load the file as what it is)."
                )
            log.warning("%s holds %s: loading it as %s.", path, self._names(fits), self.spec(fits[0]).name)
            spec = self.spec(fits[0])
        resolved = dict(options)
        self.check_options(spec, resolved)
        self.resolve_extra_files(spec, path, resolved, progress=progress)
        encoder = self.build(spec, weights, resolved)
        del weights
        return HearModel(encoder, pooling=pooling or spec.default_pooling)

    def hear_load_model(self, declaration: Callable[..., None]) -> Callable[..., HearModel]:
        """Make a model module's HEAR ``load_model`` from a declaration of the family's own options.

        A model module declares only what is its own::

            @FAMILY.hear_load_model
            def load_model(*, hop_ms: float = 50.0, frames_per_batch: int = 128) -> None:
                \"\"\"Load CREPE for HEAR.

                Args:
                    model_file_path: which files the family takes (its own words).
                    variant: its variants (its own words).
                    hop_ms: ...
                \"\"\"

        and gets ``load_model(model_file_path="", *, variant=None, pooling=None, hop_ms=50.0,
        frames_per_batch=128, progress=True) -> HearModel``, which calls `load`. The parameters every
        model takes, their checks (unknown options, `variant_aliases`) and their documentation
        (``pooling``, ``progress`` and the Returns section, made from the specs) are written once, here.
        ``inspect.signature`` and ``help`` show the whole signature; the family's own options, with
        their defaults, are `option_defaults`.

        Args:
            declaration: a function whose keyword-only parameters, with their defaults, are the
                family's own options, and whose docstring documents them (and the family's
                ``model_file_path`` and ``variant``); its body is not run.

        Raises:
            TypeError: the declaration has a parameter that is not keyword-only with a default, or
                one of the common names.
        """
        declared = inspect.signature(declaration).parameters
        clash = {"model_file_path", "variant", "pooling", "progress", *self.variant_aliases} & set(declared)
        loose = [p.name for p in declared.values() if p.kind is not p.KEYWORD_ONLY or p.default is p.empty]
        if clash or loose:
            raise TypeError(
                f"{self.name}: declare only the family's own options, keyword-only with defaults "
                f"(common: {sorted(clash)}; not keyword-only with a default: {loose})."
            )
        self.option_defaults: Mapping[str, Any] = {p.name: p.default for p in declared.values()}
        aliases = self.variant_aliases

        def load_model(
            model_file_path: str = "",
            *,
            variant: str | None = None,
            pooling: str | Pooling | None = None,
            progress: bool = True,
            **options: Any,
        ) -> HearModel:
            unknown = sorted(set(options) - set(self.option_defaults) - set(aliases))
            if unknown:
                raise TypeError(
                    f"{self.name}.load_model() got unknown option(s) {unknown}: it takes "
                    f"{sorted(['variant', 'pooling', 'progress', *aliases, *self.option_defaults])}."
                )
            for alias in aliases:
                named = options.pop(alias, None)
                if named is not None and variant is not None and named != variant:
                    raise ValueError(
                        f"variant={variant!r} and {alias}={named!r} name different variants: pass only "
                        f"variant= ({alias}= is its older name)."
                    )
                variant = variant if named is None else named
            own = {**self.option_defaults, **options}
            return self.load(model_file_path, variant=variant, pooling=pooling, progress=progress, **own)

        common = inspect.signature(load_model).parameters
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [
            common["model_file_path"],
            common["variant"],
            *(inspect.Parameter(alias, keyword, default=None, annotation="str | None") for alias in aliases),
            common["pooling"],
            *declared.values(),
            common["progress"],
        ]
        load_model.__signature__ = inspect.Signature(parameters, return_annotation="HearModel")  # type: ignore[attr-defined]
        load_model.__module__ = declaration.__module__
        load_model.__qualname__ = load_model.__name__ = declaration.__name__
        load_model.__doc__ = self._load_model_doc(inspect.getdoc(declaration) or "")
        return load_model

    def _load_model_doc(self, declared: str) -> str:
        """The declaration's docstring with the common parameters and the Returns section added."""
        specs = list(self.specs.values())
        defaults = sorted({spec.default_pooling for spec in specs})
        if len(defaults) == 1:
            default = repr(defaults[0])
        else:
            default = ", ".join(f"{spec.default_pooling!r} ({spec.variant})" for spec in specs)
        common = [
            "    pooling: the clip (scene) embedding: a pooling strategy's name (see",
            '        `hear_wrappers.core.pooling`), or ``"native"`` for the model\'s own clip embedding',
            f"        where it has one; None for the default: {default}.",
            "    progress: show a progress bar while downloading weights.",
        ]
        rates = sorted({spec.sample_rate for spec in specs})
        sizes = ", ".join(f"{spec.frame_size} ({spec.variant})" for spec in specs)
        returns = [
            "Returns:",
            f"    a `HearModel` for audio at {' or '.join(map(str, rates))} Hz; timestamp embeddings of size",
            f"    {sizes} with the default options; ``scene_embedding_size`` set by ``pooling``.",
        ]
        lines = declared.splitlines()
        if "Args:" not in lines:
            lines += ["", "Args:"]
        end = lines.index("Args:") + 1
        while end < len(lines) and (not lines[end] or lines[end].startswith(" ")):
            end += 1
        while lines[end - 1] == "":
            end -= 1
        lines[end:end] = common
        return "\n".join([*lines, "", *returns]) if "Returns:" not in lines else "\n".join(lines)

    def _names(self, variants: Sequence[str]) -> str:
        names = [self.specs[v].name for v in variants]
        return names[0] if len(names) == 1 else f"a model of the {'/'.join(names)} architecture"


_FAMILIES: dict[str, ModelFamily] = {}
_SPECS: dict[str, ModelSpec] = {}


def _load_families() -> None:
    if _FAMILIES:
        return
    for module_name in FAMILY_MODULES:
        family = importlib.import_module(f"hear_wrappers.{module_name}").FAMILY
        if family.name != module_name:
            raise RuntimeError(f"hear_wrappers.{module_name}.FAMILY is named {family.name!r}.")
        _FAMILIES[module_name] = family
        for spec in family.specs.values():
            if spec.name in _SPECS:
                raise RuntimeError(f"two registered models are named {spec.name!r}.")
            _SPECS[spec.name] = spec


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the shell-style ``pattern`` (e.g. ``"clap-*"``), sorted."""
    _load_families()
    return sorted(name for name in _SPECS if fnmatch.fnmatchcase(name, pattern))


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` registered as ``name``; imports no model library and loads no weights.

    Raises:
        ValueError: no such name (the message lists the closest names, or all of them).
    """
    _load_families()
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        import difflib

        close = difflib.get_close_matches(str(name), list(_SPECS), n=3, cutoff=0.5)
        choices = close or list_models()
        raise ValueError(
            f"no registered model is named {name!r}; {'did you mean' if close else 'choose one of'} "
            f"{choices} (hear_wrappers.list_models() lists them all)."
        ) from None


def get_family(name: str) -> ModelFamily:
    """The `ModelFamily` of a registered model name or family name."""
    _load_families()
    if name in _FAMILIES:
        return _FAMILIES[name]
    return _FAMILIES[get_spec(name).family]


def create_model(name: str, model_file_path: str | Path = "", **options: Any) -> HearModel:
    """Build the registered model ``name`` for HEAR: the same as its module's ``load_model``.

    Args:
        name: a name from `list_models` (e.g. ``"encodec-48khz"``).
        model_file_path: a local weights file of that model; empty for the official weights.
        **options: the module's ``load_model`` options (e.g. ``pooling="mean+std"``); ``variant`` is
            set by ``name``.

    Raises:
        TypeError: an option the model does not have (the message lists those it has).
    """
    spec = get_spec(name)
    module = importlib.import_module(spec.module)
    accepted = [
        p.name
        for p in inspect.signature(module.load_model).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    family = get_family(spec.family)
    chosen = {"variant", *family.variant_aliases} & set(options)
    unknown = sorted(set(options) - set(accepted))
    if chosen or unknown:
        raise TypeError(
            f"{name} does not take option(s) {sorted(chosen) or unknown}: the name chooses the variant, "
            f"and its options are {sorted(set(accepted) - {'variant', *family.variant_aliases})}."
        )
    return module.load_model(str(model_file_path), variant=spec.variant, **options)


def write_random_weights(name: str, folder: str | Path) -> Path:
    """A checkpoint of model ``name``'s real architecture with random weights, in the official file
    format and under the official file name, written into ``folder`` (for tests and benchmarks)."""
    spec = get_spec(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return get_family(spec.family).write_random_weights(spec, folder)
