"""Every registered model as an X-ARES encoder module, made from the registry.

X-ARES (``pip install xares``; see docs/suites.md) loads an encoder with
``python -m xares.run <module> <task.py ...>``: it imports the module and needs exactly one name ending in
``Encoder`` in it, a class it builds with no arguments. For each registered model there is such a module,
``hear_wrappers.xares.<module name>``, the registry name in lower case with ``_`` for other characters::

    python -m xares.run hear_wrappers.xares.encodec_24khz tasks/esc50_task.py
    python -m xares.run hear_wrappers/xares/crepe_full.py tasks/*.py    # the path form works too

or, through our launcher (registry names; it also stands in for a torchaudio that cannot be imported)::

    python -m hear_wrappers.xares.run encodec-24khz tasks/esc50_task.py

The modules are not files: they are made on import from the registry (`module_name`, `list_modules`),
so a newly registered model has one at once. Each holds one class, e.g. ``Encodec24khzEncoder``, an
`XaresAdapter`. Options go through environment variables, which X-ARES's worker processes inherit:

* ``HEAR_WRAPPERS_XARES_MODEL_FILE`` - a local weights file (default: the official weights);
* ``HEAR_WRAPPERS_XARES_OPTIONS`` - ``load_model`` options as JSON, e.g. ``'{"hop_ms": 10}'`` for CREPE;
* ``HEAR_WRAPPERS_XARES_PADDING`` - ``mean`` (default) or ``zeros``: what the frames past each clip's
  real end in X-ARES's zero-padded batches hold (see `XaresAdapter`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys
import types

from hear_wrappers.xares._encoder import (
    ENV_MODEL_FILE,
    ENV_OPTIONS,
    ENV_PADDING,
    PADDING_MODES,
    XaresAdapter,
    class_name,
    real_lengths,
)

__all__ = [
    "ENV_MODEL_FILE",
    "ENV_OPTIONS",
    "ENV_PADDING",
    "PADDING_MODES",
    "XaresAdapter",
    "class_name",
    "encoder_class",
    "list_modules",
    "module_name",
    "real_lengths",
    "registry_name",
]

_CLASSES: dict[str, type[XaresAdapter]] = {}


def module_name(name: str) -> str:
    """The X-ARES module of registered model ``name``: ``"encodec-24khz"`` -> ``"encodec_24khz"``."""
    return re.sub(r"[^0-9a-z_]", "_", name.lower())


def list_modules() -> dict[str, str]:
    """``{full module path: registry name}`` for every registered model, e.g.
    ``{"hear_wrappers.xares.encodec_24khz": "encodec-24khz", ...}``."""
    from hear_wrappers.core.registry import list_models

    modules: dict[str, str] = {}
    for name in list_models():
        path = f"{__name__}.{module_name(name)}"
        if path in modules:
            raise RuntimeError(f"{name} and {modules[path]} would share the X-ARES module {path}.")
        modules[path] = name
    return modules


def registry_name(name_or_module: str) -> str:
    """The registry name of a model given by registry name, X-ARES module path or file path.

    Raises:
        ValueError: no registered model has that name or module (the message lists the modules).
    """
    from hear_wrappers.core.registry import list_models

    if name_or_module in list_models():
        return name_or_module
    dotted = name_or_module.removesuffix(".py").replace("/", ".")
    short = dotted.rsplit(".", 1)[-1]
    for path, name in list_modules().items():
        if dotted == path or short == module_name(name):
            return name
    raise ValueError(
        f"{name_or_module!r} is neither a registered model nor its X-ARES module: choose one of "
        f"{sorted(list_modules())} (python -m hear_wrappers.xares.run --list)."
    )


def encoder_class(name: str) -> type[XaresAdapter]:
    """The X-ARES encoder class of registered model ``name`` (one class per model, made once)."""
    from hear_wrappers.core.registry import get_spec

    spec = get_spec(name)
    if spec.name not in _CLASSES:
        doc = (
            f"{spec.name} ({spec.description}) as an X-ARES encoder: {spec.sample_rate} Hz in, "
            f"{spec.frame_size}-d frames every {spec.frame_hop_ms:.4g} ms (default options). "
            f"See hear_wrappers.xares.XaresAdapter."
        )
        module = f"{__name__}.{module_name(spec.name)}"
        attributes = {"registry_name": spec.name, "__doc__": doc, "__module__": module}
        _CLASSES[spec.name] = type(class_name(spec.name), (XaresAdapter,), attributes)
    return _CLASSES[spec.name]


class _ModelModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``hear_wrappers.xares.<module name>`` on import, holding only that model's encoder class."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, short = fullname.rpartition(".")
        if package != __name__ or short.startswith("_"):
            return None
        for module_path, name in list_modules().items():
            if module_path == fullname:
                spec = importlib.machinery.ModuleSpec(fullname, self, is_package=False)
                spec.loader_state = name
                return spec
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        spec = module.__spec__
        if spec is None:  # find_spec always gives one; guards the type
            raise ImportError(f"{module.__name__} has no module spec")
        name = spec.loader_state
        cls = encoder_class(name)
        module.__doc__ = f"X-ARES encoder module of {name}: holds {cls.__name__} only."
        setattr(module, cls.__name__, cls)


if not any(isinstance(finder, _ModelModules) for finder in sys.meta_path):
    sys.meta_path.append(_ModelModules())
