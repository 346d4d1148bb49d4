"""The model registry: names and patterns, specs (checked against the models they build), errors that
suggest the right name, answers without any model library, and the README's model table."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hear_wrappers
from hear_wrappers import get_spec, list_models
from hear_wrappers.core.model import NATIVE_POOLING, HearModel
from hear_wrappers.core.pooling import available_poolings, get_pooling
from hear_wrappers.core.registry import get_family

ROOT = Path(__file__).resolve().parents[1]
HEAR_FUNCTIONS = ("load_model", "get_timestamp_embeddings", "get_scene_embeddings")

#: Top-level modules of the model libraries (and what they drag in) that describing a model must not
#: import: the registry answers from our own modules only.
MODEL_LIBRARIES = (
    "encodec",
    "julius",
    "einops",
    "laion_clap",
    "torchlibrosa",
    "ai_edge_litert",
    "tflite_runtime",
    "audio_diffusion_pytorch",
    "audio_encoders_pytorch",
    "torchcrepe",
    "huggingface_hub",
    "torchaudio",
    "tensorflow",
    "transformers",
)


def test_list_models_is_every_family_s_checkpoints_by_pattern():
    names = list_models()
    assert names == sorted(set(names)) and names == list_models("*")
    by_family: dict[str, set[str]] = {}
    for name in names:
        spec = get_spec(name)
        assert spec.name == name and name.startswith(f"{spec.family}-"), name
        by_family.setdefault(spec.family, set()).add(name)
    assert set(by_family) == set(hear_wrappers.FAMILIES)
    for family, members in by_family.items():
        assert set(list_models(f"{family}-*")) == members
        assert set(get_family(family).specs) == {get_spec(name).variant for name in members}
    assert list_models("encodec-*") == ["encodec-24khz", "encodec-48khz"]
    assert list_models("encodec-?8khz") == ["encodec-48khz"]
    assert list_models("encodec-48khz") == ["encodec-48khz"]  # a name is a pattern of itself
    assert "crepe-tiny" in list_models("*-tiny")
    assert list_models("EnCodec-*") == []  # patterns are case-sensitive, as names are
    assert list_models("no-such-model*") == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("encodec-48k", r"did you mean \['encodec-48khz'"),
        ("Encodec-48khz", r"did you mean \['encodec-48khz'"),
        ("crepe_tiny", r"did you mean \['crepe-tiny'"),
    ],
)
def test_get_spec_suggests_the_closest_names(name, message):
    with pytest.raises(ValueError, match=message) as error:
        get_spec(name)
    assert repr(name) in str(error.value) and "hear_wrappers.list_models()" in str(error.value)


@pytest.mark.parametrize("name", ["whisper", "", None, 3])
def test_get_spec_of_a_name_like_none_lists_them_all(name):
    with pytest.raises(ValueError, match="choose one of") as error:
        get_spec(name)
    assert all(repr(registered) in str(error.value) for registered in list_models())


def test_get_family_by_family_or_model_name():
    assert (
        get_family("encodec")
        is get_family("encodec-48khz")
        is importlib.import_module("hear_wrappers.encodec").FAMILY
    )
    with pytest.raises(ValueError, match="did you mean"):
        get_family("encodec-32khz")


def test_specs_answer_without_importing_any_model_library():
    """Listing and describing every model imports our modules and torch, no model library."""
    code = (
        "import json, sys\n"
        "import hear_wrappers\n"
        "for name in hear_wrappers.list_models():\n"
        "    spec = hear_wrappers.get_spec(name)\n"
        "    spec.clip_embedding_size(), spec.clip_embedding_size('mean+std'), spec.module, spec.license\n"
        "    spec.weights.url, spec.weights.filename, spec.extra, spec.description\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {module.split(".")[0] for module in json.loads(result.stdout)}
    assert "hear_wrappers" in imported
    assert not imported & set(MODEL_LIBRARIES), sorted(imported & set(MODEL_LIBRARIES))


def optional_dependencies() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_spec_describes_the_model_it_builds(model_name: str, model: HearModel, weights_file: Path):
    spec, family = get_spec(model_name), get_family(model_name)
    module = importlib.import_module(spec.module)
    assert spec.module == f"hear_wrappers.{spec.family}" and module.FAMILY is family
    assert family.spec(spec.variant) is spec
    assert spec.sample_rate == model.sample_rate
    # The module's HEAR rate constant, where it has one (a combination's rate follows its members).
    assert getattr(module, "SAMPLE_RATE", spec.sample_rate) == spec.sample_rate
    assert spec.frame_size == model.timestamp_embedding_size
    assert model.encoder.timing.hop_ms == pytest.approx(spec.frame_hop_ms, rel=1e-12)
    assert spec.native_clip_size == model.encoder.clip_embedding_size
    assert spec.default_pooling == model.clip_embedding.name
    assert spec.clip_embedding_size() == model.scene_embedding_size
    if spec.weights.filename:
        # The random-weight file carries the official file name, the one a cache or snapshot holds.
        assert weights_file.name == spec.weights.filename
        assert spec.weights.url or spec.weights.hub_repo or spec.weights.packaged
    else:  # a model made of others (a combination): a folder of its members' files
        assert weights_file.is_dir()
    assert spec.license == spec.weights.license != ""
    assert spec.description and "\n" not in spec.description
    extras = optional_dependencies()
    assert family.extra in extras and all(extra in extras for extra in spec.extra.split(","))


def test_clip_embedding_size_for_every_pooling(model_name: str, model: HearModel):
    """``spec.clip_embedding_size(pooling)`` is the size the model gets with that pooling, for every
    registered strategy and the model's own head (or a ValueError where it has none)."""
    spec = get_spec(model_name)
    assert spec.clip_embedding_size("mean") == spec.clip_embedding_size("max") == spec.frame_size
    assert spec.clip_embedding_size("mean+std") == spec.clip_embedding_size("mean+max") == 2 * spec.frame_size
    assert spec.clip_embedding_size("mean+max+std") == 3 * spec.frame_size
    for pooling in available_poolings():
        expected = get_pooling(pooling).output_size(spec.frame_size)
        assert (
            spec.clip_embedding_size(pooling)
            == expected
            == HearModel(model.encoder, pooling=pooling).scene_embedding_size
        )
    if spec.native_clip_size is None:
        with pytest.raises(ValueError, match="choose a pooling strategy"):
            spec.clip_embedding_size(NATIVE_POOLING)
        with pytest.raises(ValueError, match="choose a pooling strategy"):
            HearModel(model.encoder, pooling=NATIVE_POOLING)
    else:
        native = HearModel(model.encoder, pooling=NATIVE_POOLING)
        assert (
            spec.clip_embedding_size(NATIVE_POOLING) == native.scene_embedding_size == spec.native_clip_size
        )
    assert spec.clip_embedding_size() == spec.clip_embedding_size(spec.default_pooling)


# ---------------------------------------------------------------------------------------------------
# The README's model table
# ---------------------------------------------------------------------------------------------------


README = ROOT / "README.md"
#: The generated table of every checkpoint (``hear_wrappers.cli.models_table()``) sits between these.
MODELS_TABLE = re.compile(r"<!-- models table: begin -->(.*?)<!-- models table: end -->", re.DOTALL)


def table_rows(text: str) -> list[list[str]]:
    """The cells of the markdown table rows in ``text`` (header and separator rows included)."""
    lines = [line.strip() for line in text.splitlines()]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]


def test_readme_module_table_has_every_family_and_only_hear_modules():
    """Every registered family has its row in the README's table of HEAR modules; the other rows
    (e.g. a reference module with no checkpoints) are HEAR modules too."""
    text = MODELS_TABLE.sub("", README.read_text())
    modules = {m for row in table_rows(text) for m in re.findall(r"^`hear_wrappers\.(\w+)`$", row[0])}
    families = {get_spec(name).family for name in list_models()}
    assert families <= modules, f"README's module table lacks {sorted(families - modules)}"
    for extra in sorted(modules - families):
        module = importlib.import_module(f"hear_wrappers.{extra}")
        assert all(callable(getattr(module, f, None)) for f in HEAR_FUNCTIONS), f"hear_wrappers.{extra}"


def test_readme_models_table_is_every_registered_name():
    """The README's table of checkpoints has one row per registered name, no more."""
    block = MODELS_TABLE.search(README.read_text())
    assert block, "README.md has no '<!-- models table: begin -->' ... '<!-- models table: end -->' block"
    names = [row[0].strip("`") for row in table_rows(block.group(1))[2:]]
    assert names == list_models(), f"README lacks {sorted(set(list_models()) - set(names))}, has {names}"


@pytest.mark.parametrize("family_name", hear_wrappers.FAMILIES)
def test_load_model_signature_and_docs_are_the_family_s_options_and_the_common_ones(family_name: str):
    """Every module's ``load_model`` takes the common parameters, then the family's own options with
    their declared defaults, and documents each of them (``help(load_model)`` is complete)."""
    family = get_family(family_name)
    load_model = importlib.import_module(f"hear_wrappers.{family_name}").load_model
    parameters = inspect.signature(load_model).parameters
    assert list(parameters) == [
        "model_file_path",
        "variant",
        *family.variant_aliases,
        "pooling",
        *family.option_defaults,
        "progress",
    ]
    assert parameters["model_file_path"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(parameters.values())[1:])
    assert {name: parameters[name].default for name in family.option_defaults} == dict(family.option_defaults)
    doc = inspect.getdoc(load_model) or ""
    undocumented = [name for name in parameters if not re.search(rf"^    {name}: \S", doc, re.MULTILINE)]
    assert not undocumented, f"{family_name}.load_model does not document {undocumented}:\n{doc}"
    assert "Returns:" in doc and load_model.__module__ == f"hear_wrappers.{family_name}"


def test_load_model_refuses_an_unknown_option_naming_the_ones_it_takes():
    from hear_wrappers import crepe

    with pytest.raises(TypeError, match=r"crepe.load_model\(\) got unknown option\(s\) \['hop'\].*'hop_ms'"):
        crepe.load_model(hop=10)
    with pytest.raises(TypeError):  # only the file is positional, as in the HEAR API
        crepe.load_model("", "tiny")


def test_a_family_declares_only_keyword_options_with_defaults():
    family = get_family("crepe")
    saved = dict(family.option_defaults)
    try:
        with pytest.raises(TypeError, match=r"not keyword-only with a default: \['hop_ms'\]"):

            @family.hear_load_model
            def positional(hop_ms: float = 50.0) -> None: ...

        with pytest.raises(TypeError, match=r"common: \['pooling'\]"):

            @family.hear_load_model
            def common(*, pooling: str = "mean") -> None: ...

        with pytest.raises(TypeError, match=r"not keyword-only with a default: \['hop_ms'\]"):

            @family.hear_load_model
            def no_default(*, hop_ms: float) -> None: ...

    finally:
        assert dict(family.option_defaults) == saved  # a refused declaration changes nothing
