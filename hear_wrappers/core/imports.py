"""Importing model libraries: clear errors for missing extras, and no import-time baggage.

Some model libraries do heavy or broken work in their package ``__init__`` (EnCodec's imports
torchaudio for file I/O; LAION-CLAP's downloads tokenizers). The model code we need usually lives in
submodules that import none of it. `import_isolated` loads such submodules from the installed package
under a private alias, so the package ``__init__`` never runs and the real package name in
``sys.modules`` is left untouched for the user's own imports.

Some model files themselves import a heavy library at the top for parts we never use
(audio-encoders-pytorch's ``modules`` imports torchaudio for its mel spectrogram). ``stand_ins``
names such libraries: while the file is imported, and only then, each is a placeholder module whose
attributes fail with a clear `MissingExtraError` if they are ever used, so the real library is
neither required nor loaded, and ``sys.modules`` is restored afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterable

__all__ = ["MissingExtraError", "check_installed", "import_isolated", "require"]


class MissingExtraError(ImportError):
    """A model's optional dependency is not installed."""


def _missing(package: str, extra: str) -> MissingExtraError:
    return MissingExtraError(
        f"this model needs the {package!r} package, which is not installed: "
        f"pip install 'hear-wrappers[{extra}]'"
    )


def check_installed(modules: Iterable[str], *, extra: str) -> None:
    """Raise `MissingExtraError` for the first of ``modules`` that is not installed (found without
    importing it, so a check costs nothing and runs no package's ``__init__``)."""
    for module in modules:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise _missing(module.split(".")[0], extra)


def require(module: str, *, extra: str) -> types.ModuleType:
    """Import ``module`` normally, or raise `MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and module.split(".")[0] == error.name.split(".")[0]:
            raise _missing(module.split(".")[0], extra) from error
        raise


def import_isolated(
    package: str, submodule: str, *, extra: str, stand_ins: Iterable[str] = ()
) -> types.ModuleType:
    """Import ``package.submodule`` from the installed package without running ``package/__init__``.

    The submodule is loaded under the alias ``_hear_wrappers_isolated_<package>.<submodule>``; its
    relative imports resolve inside the same alias, so its siblings load the same way.

    Args:
        package: top-level package name, e.g. ``"encodec"``.
        submodule: dotted path inside it, e.g. ``"modules"``.
        extra: the hear-wrappers extra that installs the package, for the error message.
        stand_ins: top-level modules the file imports but whose parts we never use (e.g.
            ``("torchaudio",)``): placeholders stand in for them during this import only, unless
            they are already imported, in which case the real module is used.

    Raises:
        MissingExtraError: the package is not installed.
    """
    spec = importlib.util.find_spec(package)  # finds the folder; executes nothing
    if spec is None or not spec.submodule_search_locations:
        raise _missing(package, extra)
    alias = f"_hear_wrappers_isolated_{package}"
    if alias not in sys.modules:
        shell = types.ModuleType(alias, f"{package}'s files, loaded without its __init__")
        shell.__path__ = list(spec.submodule_search_locations)
        sys.modules[alias] = shell
    placed = [name for name in stand_ins if name not in sys.modules]
    for name in placed:
        sys.modules[name] = _StandIn(name, f"{package}.{submodule}")
    try:
        return importlib.import_module(f"{alias}.{submodule}")
    finally:
        for name in placed:
            if isinstance(sys.modules.get(name), _StandIn):
                del sys.modules[name]


class _StandIn(types.ModuleType):
    """A placeholder for a library that a model file imports but hear-wrappers never uses."""

    def __init__(self, name: str, importer: str) -> None:
        super().__init__(name, f"hear-wrappers' stand-in for {name}, seen only by {importer}")
        self._importer = importer

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Unavailable(f"{self.__name__}.{attribute}", self._importer)


class _Unavailable:
    """What a stand-in module's attributes are: anything done with them raises MissingExtraError."""

    def __init__(self, name: str, importer: str) -> None:
        self._message = (
            f"{name} is not available to {importer}: hear-wrappers loaded that file without "
            f"importing {name.split('.')[0]}, which the parts it uses do not need."
        )

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise MissingExtraError(self._message)

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise MissingExtraError(self._message)
