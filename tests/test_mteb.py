"""hear_wrappers.mteb: every registered model behind mteb's encoder protocol, through mteb's own code.

Needs mteb (``nox -s suites``, or ``pip install 'hear-wrappers[mteb]'``). Weights: random, in each
model's official format (`write_random_weights`), except CREPE's real ones for the scored run.
"""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch
from helpers import installed

if not installed("mteb", "scipy", "sentence_transformers", "datasets"):
    pytest.skip(
        "needs mteb: pip install 'hear-wrappers[mteb]' (or run nox -s suites)", allow_module_level=True
    )

# before mteb itself: hear_wrappers.mteb imports it with a stand-in for a torchaudio that cannot load
from hear_wrappers.mteb import (
    NAME_PREFIX,
    HearMtebEncoder,
    get_model,
    model_meta,
    mteb_license,
    resample,
    to_mono,
)

import mteb  # isort: skip
from datasets import Dataset, DatasetDict
from mteb._create_dataloaders import create_dataloader
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.models_protocols import EncoderProtocol
from mteb.types._metadata import Licenses

from hear_wrappers.core.registry import create_model, get_spec, list_models, write_random_weights

MODELS = list_models()


def tone(frequency: float, seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


class TinyToneTask(AbsTaskClassification):
    """An mteb audio classification task on a local dataset (no hub): a low or a high tone, clips of
    0.5-1.5 s at 16, 22.05 and 44.1 kHz, as mteb's own MockAudioClassification builds its data."""

    metadata = TaskMetadata(
        type="AudioClassification",
        name="HearWrappersTinyTones",
        main_score="accuracy",
        description="Low or high tone in noise, generated locally.",
        reference="https://github.com/hear-wrappers/hear-wrappers",
        dataset={"path": "hear-wrappers/tiny-tones", "revision": "1"},
        category="a2c",
        eval_splits=["test"],
        eval_langs=["zxx-Zxxx"],
        date=("2024-01-01", "2024-01-01"),
        dialect=[],
        domains=[],
        task_subtypes=[],
        license="cc0-1.0",
        annotations_creators="derived",
        modalities=["audio"],
        sample_creation="created",
        bibtex_citation="",
    )
    input_column_name = "audio"

    def load_data(self, **kwargs) -> None:
        rng = np.random.default_rng(0)
        rates = (16000, 22050, 44100)

        def split(count: int, seed: int) -> Dataset:
            labels = [i % 2 for i in range(count)]
            audio = [
                {
                    "array": tone(220 if label else 1760, rng.uniform(0.5, 1.5), rates[i % 3], seed + i),
                    "sampling_rate": rates[i % 3],
                }
                for i, label in enumerate(labels)
            ]
            return Dataset.from_dict({"audio": audio, "label": labels})

        self.dataset = DatasetDict({"train": split(16, 0), "test": split(8, 100)})
        self.data_loaded = True


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mteb-weights")

    class Lazy(dict):
        def __missing__(self, name):
            self[name] = write_random_weights(name, folder / name.replace(".", "_"))
            return self[name]

    return Lazy()


def mteb_loader(items: list[dict], batch_size: int = 4):
    """The DataLoader mteb's evaluators hand to ``encode``, made by mteb's own `create_dataloader`."""
    dataset = Dataset.from_dict({"audio": items, "label": list(range(len(items)))})
    return create_dataloader(dataset, task_metadata=TinyToneTask.metadata, batch_size=batch_size)


@pytest.mark.parametrize("name", MODELS)
def test_model_meta_from_the_registry(name):
    spec = get_spec(name)
    meta = model_meta(name)
    assert meta.name == NAME_PREFIX + name
    assert meta.embed_dim == spec.clip_embedding_size()
    assert meta.license in typing.get_args(Licenses)
    assert meta.license == mteb_license(spec.license)
    assert meta.modalities == ["audio"] and meta.open_weights
    assert meta.loader is HearMtebEncoder and meta.experiment_kwargs is None
    other = "mean" if spec.default_pooling != "mean" else "max"
    changed = model_meta(name, pooling=other)
    assert changed.embed_dim == spec.clip_embedding_size(other)
    assert changed.experiment_kwargs == {"pooling": other}  # kept apart in mteb's results cache


def test_licences_map_onto_mteb_ids():
    assert mteb_license("CC BY-NC 4.0") == "cc-by-nc-4.0"
    assert mteb_license("Apache-2.0") == "apache-2.0"
    assert mteb_license("MIT (CREPE by Kim et al.)") == "mit"
    assert mteb_license("CC0-1.0") == "cc0-1.0"
    assert mteb_license("a licence of its own") == "not specified"


@pytest.mark.parametrize("name", MODELS)
def test_every_model_encodes_mtebs_batches_without_padding(name, weights):
    """Items at three rates and three lengths, batched by mteb's own DataLoader: each embedding is the
    HEAR clip embedding of that item alone, resampled to the model's rate, whatever its batch mates."""
    encoder = get_model(name, str(weights[name]), device="cpu")
    assert isinstance(encoder, EncoderProtocol)
    rate = encoder.sample_rate
    items = [
        {"array": tone(440, 1.0, 16000, 1), "sampling_rate": 16000},
        {"array": tone(880, 0.6, 22050, 2), "sampling_rate": 22050},
        {"array": tone(440, 1.0, 16000, 3), "sampling_rate": 16000},
        {"array": tone(660, 0.3, 44100, 4), "sampling_rate": 44100},
        {"array": tone(660, 0.8, rate, 5), "sampling_rate": rate},
    ]
    out = encoder.encode(
        mteb_loader(items), task_metadata=TinyToneTask.metadata, hf_split="test", hf_subset=""
    )
    assert out.shape == (5, encoder.mteb_model_meta.embed_dim) and out.dtype == np.float32
    model = encoder.model
    for row, item in zip(out, items, strict=True):
        alone = resample(np.asarray(item["array"]), item["sampling_rate"], rate)
        expected = model.scene_embeddings(torch.from_numpy(alone).unsqueeze(0))[0].numpy()
        # same model, same input, alone or beside equal-length clips: float32 batch-size effects only
        np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_stereo_lists_and_tensors_are_mixed_down():
    stereo = np.stack([tone(440, 0.5, 16000, 1), tone(440, 0.5, 16000, 2)])
    np.testing.assert_allclose(to_mono(stereo), stereo.mean(axis=0))
    np.testing.assert_allclose(to_mono(torch.from_numpy(stereo[0])), stereo[0])
    np.testing.assert_allclose(to_mono(stereo[0].tolist()), stereo[0])
    with pytest.raises(ValueError, match=r"\[channels, samples\]"):
        to_mono(np.zeros((1, 2, 3)))


@pytest.mark.parametrize(("rate", "target"), [(22050, 48000), (44100, 16000), (16000, 48000), (48000, 48000)])
def test_resampling_keeps_a_band_limited_tone(rate, target):
    seconds, frequency = 1.0, 1000.0
    source = np.sin(2 * np.pi * frequency * np.arange(round(seconds * rate)) / rate).astype(np.float32)
    out = resample(source, rate, target)
    assert out.dtype == np.float32 and len(out) == round(seconds * target)
    expected = np.sin(2 * np.pi * frequency * np.arange(len(out)) / target)
    edge = target // 50  # the filter's start-up at the clip's ends
    # scipy's Kaiser (beta 5) polyphase filter: passband ripple well under 1e-3 at 1 kHz
    np.testing.assert_allclose(out[edge:-edge], expected[edge:-edge], atol=2e-3)


def test_an_audio_free_task_is_refused(weights):
    encoder = get_model("crepe-tiny")
    with pytest.raises(ValueError, match="embeds audio only"):
        encoder.encode([{"text": ["a"]}], task_metadata=TinyToneTask.metadata, hf_split="", hf_subset="")


@pytest.mark.slow
def test_mteb_evaluate_runs_an_audio_classification_task_end_to_end():
    """mteb.evaluate on a local dataset: CREPE tiny's real weights tell a 220 Hz from a 1760 Hz tone
    through mteb's logistic-regression experiments (mixed rates, all resampled to 16 kHz)."""
    encoder = get_model("crepe-tiny", device="cpu")
    result = mteb.evaluate(encoder, TinyToneTask(), cache=None, show_progress_bar=False)
    (task_result,) = result.task_results
    assert task_result.task_name == "HearWrappersTinyTones"
    assert task_result.get_score() == 1.0
    assert result.model_name == "hear-wrappers/crepe-tiny"


def test_pooling_and_options_reach_the_model(weights):
    encoder = get_model("encodec-24khz", str(weights["encodec-24khz"]), pooling="max", device="cpu")
    assert encoder.model.clip_embedding.name == "max"
    assert encoder.mteb_model_meta.embed_dim == 128
    assert encoder.mteb_model_meta.experiment_kwargs == {"pooling": "max"}
    crepe = get_model("crepe-tiny", hop_ms=10.0)
    assert crepe.model.encoder.timing.hop_ms == 10.0
    assert crepe.mteb_model_meta.experiment_kwargs == {"hop_ms": 10.0}
    reference = create_model("crepe-tiny", hop_ms=10.0)
    audio = torch.from_numpy(tone(300, 0.5, 16000)).unsqueeze(0)
    np.testing.assert_allclose(crepe.embed([audio[0].numpy()]), reference.scene_embeddings(audio).numpy())
    with pytest.raises(ValueError, match="no registered model"):
        get_model("encodec-99khz")
