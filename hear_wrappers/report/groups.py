"""Combinations: a report's model made of others (``hear_wrappers.combined``), shown right after its members.

A report label is a *combination* when the caller says so (``groups={combination: [member, ...]}``) or
when the ``load_model`` options it ran with hold ``"models": [...]`` naming models that are in the same
report (``options={label: {"models": ["crepe-tiny", "soundstream"]}}``, as heareval's
``--model-options`` for ``hear_wrappers.combined``). Names are resolved to the report's labels here;
`model_order` then puts each combination right after its members.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hear_wrappers.report.leaderboard import did_you_mean

__all__ = ["COMBINATION_MARK", "find_combinations", "group_spans", "model_order"]

#: Marks a combination in the table's heading and the figure's legend (⊕, a usual sign for concatenation).
COMBINATION_MARK = "⊕ "

#: What `find_combinations` knows of each report label: its module folder name and embeddings root.
Runs = Mapping[str, tuple[str, Path]]

# Where a module folder's option slugs split: heareval names it <module>-<key>=<value>-<key>=<value>...
# with python-slugify'd keys and values (a value may hold "-", neither holds "=").
_SLUG_BOUNDARY = re.compile(r"-(?=[^-=]+=)")
# A dotted module path (``hear_wrappers.crepe``); registered names (``crepe-tiny``) are not.
_MODULE_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _parse_folder(folder: str) -> tuple[str, frozenset[str]]:
    """``"hear_wrappers.crepe-variant=tiny-pooling=mean-std"`` -> ``("hear_wrappers.crepe",
    {"variant=tiny", "pooling=mean-std"})``: heareval's folder name as module and option slugs."""
    module, _, slugs = folder.partition("-")
    return module, frozenset(_SLUG_BOUNDARY.split(slugs)) if slugs else frozenset()


def _member_folders(name: str, options: Mapping[str, Any]) -> set[tuple[str, frozenset[str]]]:
    """The folders (parsed as `_parse_folder`) that heareval may have written member ``name`` with
    ``options`` to: ``name`` as a HEAR module, and, for a registered model name (``"crepe-tiny"``),
    its module with its variant given (under any of its option names) or, for the default variant,
    left out. Empty without python-slugify (heareval's dependency), which makes heareval's names."""
    try:
        from slugify import slugify
    except ModuleNotFoundError:
        return set()

    def slugs(opts: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(f"{slugify(str(key))}={slugify(str(value))}" for key, value in opts.items())

    folders = {(name, slugs(options))}
    if _MODULE_PATH.fullmatch(name):  # a HEAR module, not a registered name: no need for the registry
        return folders
    registry = importlib.import_module("hear_wrappers.core.registry")  # imports torch: only when needed
    try:
        spec, family = registry.get_spec(name), registry.get_family(name)
    except ValueError:
        return folders
    for key in ("variant", *family.variant_aliases):
        folders.add((spec.module, slugs({key: spec.variant, **options})))
    if spec.variant == family.default_variant:
        folders.add((spec.module, slugs(options)))
    return folders


def _labels_named(name: str, runs: Runs) -> list[str]:
    """The labels ``name`` refers to: itself if it is a label, else those of module folder ``name``."""
    if name in runs:
        return [name]
    return [label for label, (module, _) in runs.items() if module == name]


def _nearest(labels: list[str], root: Path, runs: Runs) -> list[str]:
    """Of ``labels``, those under embeddings root ``root`` if any (a module found in several roots)."""
    near = [label for label in labels if runs[label][1] == root]
    return near or labels


def _member_labels(reference: Any, root: Path, runs: Runs) -> list[str]:
    """The labels a ``"models"`` entry names: a string, or ``{"name": ..., "options": {...}}``."""
    options: Mapping[str, Any] = {}
    if isinstance(reference, str):
        name = reference
    elif isinstance(reference, Mapping) and isinstance(reference.get("name"), str):
        name, options = reference["name"], reference.get("options") or {}
    else:
        raise ValueError(
            f'a "models" entry must be a model name or {{"name": ..., "options": {{...}}}}, not {reference!r}'
        )
    labels = [] if options else _labels_named(name, runs)
    if not labels:
        folders = _member_folders(name, options)
        labels = [label for label, (module, _) in runs.items() if _parse_folder(module) in folders]
    return _nearest(labels, root, runs)


def _known(name: str, runs: Runs, what: str) -> list[str]:
    """`_labels_named`, or a ValueError saying that ``what`` (naming ``name``) is not in the report."""
    labels = _labels_named(name, runs)
    if not labels:
        hint = did_you_mean(name, [*runs, *(module for module, _ in runs.values())]) or "."
        raise ValueError(f"{what} is not a model in this report{hint} Models: {', '.join(sorted(runs))}")
    return labels


def find_combinations(
    runs: Runs,
    groups: Mapping[str, Sequence[str]] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """The report's combinations, ``{combination label: (member label, ...)}``.

    Args:
        runs: ``{label: (module folder name, embeddings root)}`` of every model in the report.
        groups: ``{combination: [member, ...]}`` marked by the caller. Each name is a label or a module
            folder name (which then means its label under every root it is in; a member found under
            several roots is taken from the combination's root where possible).
        options: ``{label or module folder: load_model options}``; where the options hold ``"models":
            [...]`` (each entry a label, a module folder name, a HEAR module or registered model name,
            or ``{"name": ..., "options": {...}}``), the members found in the report make that label
            a combination. Members not in the report are left out; one with none is no combination.

    Raises:
        ValueError: a name in ``groups`` or a key of ``options`` is not in the report, a ``"models"``
            entry is neither a name nor ``{"name": ...}``, or a combination contains itself.
    """
    combinations: dict[str, list[str]] = {}
    for key, members in (groups or {}).items():
        if isinstance(members, str):
            raise TypeError(f"groups[{key!r}] must be a list of member names, not the string {members!r}")
        if not members:
            raise ValueError(f"groups[{key!r}] names no members: give the models it combines")
        for label in _known(key, runs, f"group {key!r}"):
            found = combinations.setdefault(label, [])
            for member in members:
                found += _nearest(
                    _known(member, runs, f"member {member!r} of group {key!r}"), runs[label][1], runs
                )
    for key, opts in (options or {}).items():
        labels = _known(key, runs, f"options key {key!r}")
        references = opts.get("models") or ()
        if isinstance(references, str):
            raise ValueError(f'options[{key!r}]["models"] must be a list of names, not {references!r}')
        for reference in references:
            for label in labels:
                found = _member_labels(reference, runs[label][1], runs)
                if found:
                    combinations.setdefault(label, []).extend(found)

    result = {label: tuple(dict.fromkeys(members)) for label, members in combinations.items()}
    for label in result:
        if label in _closure(label, result):
            raise ValueError(f"combination {label!r} contains itself (through {result[label]})")
    return result


def _closure(label: str, combinations: Mapping[str, Sequence[str]]) -> set[str]:
    """Every label that ``label`` is made of, directly or through combinations of combinations."""
    seen: set[str] = set()
    stack = list(combinations.get(label, ()))
    while stack:
        member = stack.pop()
        if member not in seen:
            seen.add(member)
            stack += combinations.get(member, ())
    return seen


def model_order(labels: Iterable[str], combinations: Mapping[str, Sequence[str]]) -> list[str]:
    """``labels`` alphabetically, except that each combination comes right after its members, which
    come together (a member of several combinations is placed with the first of them)."""
    labels = sorted(set(labels))
    present = set(labels)
    order: list[str] = []

    def place(label: str) -> None:
        if label not in order:
            for member in combinations.get(label, ()):
                if member in present:
                    place(member)
            order.append(label)

    for label in labels:
        for combination in sorted(c for c in combinations if c in present and label in combinations[c]):
            place(combination)
        place(label)
    return order


def group_spans(order: Sequence[str], combinations: Mapping[str, Sequence[str]]) -> list[tuple[int, int]]:
    """``(first, last)`` positions in ``order`` of each combination's group: the combination and the
    run of its members (direct or nested) just before it, where that run holds at least one member."""
    spans = []
    for last, label in enumerate(order):
        if label in combinations:
            members = _closure(label, combinations)
            first = last
            while first > 0 and order[first - 1] in members:
                first -= 1
            if first < last:
                spans.append((first, last))
    return spans
