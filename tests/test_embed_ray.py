"""hear_wrappers.embed on Ray: a local cluster started by the run, and a real two-node cluster on loopback.

The two-node cluster (``ray start --head`` and ``ray start --address``, one CPU each, token auth, a
temp dir of its own) is started once for the module; teardown stops exactly the processes whose
command line names that temp dir (or its client server's port), and their children — never ``ray
stop``, which would stop every Ray on the machine. Every run's files are compared with an in-process
run's (`test_embed.assert_same_folders`).

Every node stays on 127.0.0.1 (the only addresses this workplace lets traffic to): Ray 2.x rewrites
``--node-ip-address=127.0.0.1`` and ``--address=127.0.0.1:port`` to the machine's outward address
unless its single-machine flag is on (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), and its CLI refuses
to add a node while that flag is on. The head starts with the flag on; the second node joins through
`JOIN_ON_LOOPBACK`. Drivers connect through `hear_wrappers.embed.distributed.connect`, which keeps a
loopback address on loopback. The tests check that every node is advertised on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import installed
from test_embed import CREPE, TESTMODEL, assert_same_folders, env, flat_scores, ours

from hear_wrappers.embed.distributed import connect, loopback_env

pytestmark = pytest.mark.skipif(
    not installed("ray", "torchcrepe", "intervaltree", "slugify"),
    reason="needs Ray and CREPE: pip install 'hear-wrappers[distributed,crepe,eval]'",
)

RAY = str(Path(sys.executable).with_name("ray"))

#: ``ray start`` (Ray's own CLI, unchanged) for a node joining on loopback: this node's IP is 127.0.0.1
#: for the CLI (whose checks need the single-machine flag off), and the processes it starts get the flag
#: on (so that they answer 127.0.0.1 too).
JOIN_ON_LOOPBACK = """
import os, sys
import ray._private.services as services
from ray.scripts.scripts import main
services.get_node_ip_address = lambda address=None: "127.0.0.1"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
sys.argv = ["ray", *sys.argv[1:]]
sys.exit(main())
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop_processes(marks: list[str]) -> None:
    """SIGTERM, then SIGKILL, the processes whose command line contains a mark, and their children."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry)] = (parent, command)
    chosen = {pid for pid, (_, command) in table.items() if any(mark in command for mark in marks)}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in chosen} - chosen
        chosen |= children
        grew = bool(children)
    chosen.discard(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in chosen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + 10
        while (
            sig == signal.SIGTERM
            and time.time() < deadline
            and any(Path(f"/proc/{p}").exists() for p in chosen)
        ):
            time.sleep(0.2)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> Path:
    from hear_wrappers.tasks import build_task

    root = tmp_path_factory.mktemp("raytasks")
    for kind in ("sound_vs_noise", "synth_onsets"):
        build_task(kind, root, sample_rates=(16000,), seed=2, clips=2)
    return root


@pytest.fixture(scope="module")
def reference(tasks, tmp_path_factory) -> Path:
    """The in-process run, the result every Ray run must reproduce."""
    work = tmp_path_factory.mktemp("reference")
    ours(CREPE, {"variant": "tiny"}, "mean,max", tasks, work, "--workers", "0")
    return work / "embeddings"


@pytest.fixture(scope="module")
def cluster(monkeypatch_module) -> str:
    """A two-node Ray cluster on loopback, one CPU per node; yields its address."""
    temp = tempfile.mkdtemp(prefix="hwray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    token = secrets.token_hex(16)
    # Ray 2.5x refuses a second node on one host without a token: give the cluster one of its own
    for key, value in (("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", token)):
        monkeypatch_module.setenv(key, value)
    monkeypatch_module.delenv("RAY_ADDRESS", raising=False)
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"
    head = [RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false"]
    join = [sys.executable, "-c", JOIN_ON_LOOPBACK, "start", f"--address={address}"]
    local = loopback_env()  # loopback only, and Ray's cloud metadata requests refused on loopback
    joining = {key: value for key, value in local.items() if key != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    try:
        for command, extra_env in ((head, local), (join, joining)):
            started = subprocess.run(
                [*command, *common], env={**env(), **extra_env}, capture_output=True, text=True, timeout=300
            )
            assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
        yield address
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _stop_processes([temp, f"--address=127.0.0.1:{port}", f":{port} "])


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_local_cluster_starts_and_stops_by_itself(tasks, reference, tmp_path):
    log = ours(CREPE, {"variant": "tiny"}, "mean,max", tasks, tmp_path, "--workers", "1")
    assert "with the Ray engine" in log
    assert "(1 encoder replica on 127.0.0.1)" in log  # the local cluster stays on loopback
    for folder in reference.iterdir():
        assert_same_folders(folder, tmp_path / "embeddings" / folder.name)


def test_two_node_cluster_through_address(cluster, tasks, reference, tmp_path):
    import ray

    log = ours(
        CREPE, {"variant": "tiny"}, "mean,max", tasks, tmp_path, "--workers", "2", "--address", cluster
    )
    assert "with the Ray engine (2 encoder replicas on 127.0.0.1)" in log
    for folder in reference.iterdir():
        assert_same_folders(folder, tmp_path / "embeddings" / folder.name)
    connect(cluster)
    alive = [node for node in ray.nodes() if node["Alive"]]
    assert len(alive) == 2 and sum(node["Resources"].get("CPU", 0) for node in alive) == 2
    assert {node["NodeManagerAddress"] for node in alive} == {"127.0.0.1"}
    assert ray.get_runtime_context().gcs_address == cluster


def test_dead_worker_is_retried_then_bounded(cluster, tasks, tmp_path, monkeypatch):
    """A replica that dies once is replaced and its batch redone; one that always dies stops the run
    after max_retries + 1 attempts, with an error naming the clips."""
    from hear_wrappers.embed import embed
    from hear_wrappers.embed.distributed import RayEngine
    from hear_wrappers.embed.plan import make_variants
    from hear_wrappers.embed.runner import EmbedError

    marker = tmp_path / "crash-once"
    marker.touch()
    options = {"crash_marker": str(marker)}
    variants = make_variants(TESTMODEL, [options], ["mean"])
    common = {"tasks_dir": tasks, "embeddings_dir": "embeddings", "poolings": ["mean"], "progress": False}
    for side in ("ray", "reference", "always"):
        (tmp_path / side).mkdir()
    monkeypatch.chdir(tmp_path / "ray")  # the same relative --embeddings-dir everywhere (event timestamps)
    engine = RayEngine(TESTMODEL, None, variants, workers=1, address=cluster, max_retries=2)
    try:
        report = embed(TESTMODEL, model_options=[options], engine=engine, **common)
        assert engine.restarts == 1 and not marker.exists()
    finally:
        engine.close()
    assert sum(summary.clips for summary in report.tasks) == sum(
        len(json.loads(path.read_text()))
        for path in tasks.glob("*/*.json")
        if path.name != "task_metadata.json"
    )
    monkeypatch.chdir(tmp_path / "reference")
    embed(TESTMODEL, model_options=[options], workers=0, **common)
    (folder,) = [v.folder_name for v in variants]
    assert_same_folders(
        tmp_path / "reference" / "embeddings" / folder, tmp_path / "ray" / "embeddings" / folder
    )

    monkeypatch.chdir(tmp_path / "always")
    marker.touch()
    always = {"crash_marker": str(marker), "crash_always": True}
    with pytest.raises(EmbedError, match=r"failed 2 times: their encoder replica died") as caught:
        embed(TESTMODEL, model_options=[always], workers=1, address=cluster, max_retries=1, **common)
    assert "/16000/" in str(caught.value) and ".wav" in str(caught.value)
    assert not list((tmp_path / "always").rglob(".done.embeddings"))


def test_killed_driver_resumes_to_the_same_result(cluster, tasks, tmp_path):
    """SIGKILL the driver once some clips are written; a new run redoes only the rest, same files."""
    options = {"delay": 1.0}
    work = tmp_path / "run"
    work.mkdir()
    command = [sys.executable, "-m", "hear_wrappers.embed", TESTMODEL, "--tasks-dir", str(tasks)]
    command += [
        "--embeddings-dir",
        "embeddings",
        "--model-options",
        json.dumps(options),
        "--poolings",
        "mean",
    ]
    command += ["--workers", "1", "--address", cluster]
    driver = subprocess.Popen(command, cwd=work, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not list(work.glob("embeddings/*/*/*/*.embedding.npy")):
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    written = len(list(work.glob("embeddings/*/*/*/*.embedding.npy")))
    assert written and not list(work.glob("embeddings/*/*/.done.embeddings"))
    resumed = subprocess.run(command, cwd=work, env=env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    profiles = [json.loads(p.read_text()) for p in work.glob("embeddings/*/*/profile.embeddings.json")]
    assert sum(profile["hear_wrappers_embed"]["reused"] for profile in profiles) > 0  # not all redone

    ours(TESTMODEL, options, "mean", tasks, tmp_path / "reference", "--workers", "0")
    name = "embed_testmodel-delay=1-0-pooling=mean"
    assert_same_folders(tmp_path / "reference" / "embeddings" / name, work / "embeddings" / name)


def test_prediction_jobs_on_the_cluster_score_as_local_ones(cluster, reference, tmp_path):
    """`run_predictions` with an address: the folder goes to a node as bytes, heareval's predictions
    runner runs there, its files come back; the scores equal a local job's on a copy of the folder (the
    same data, seeds and thread count: the same computation)."""
    from hear_wrappers.evaluate import PredictionJob, run_predictions

    (folder,) = reference.glob("*pooling=mean/sound_vs_noise*")
    copies = {side: tmp_path / side / folder.parent.name / folder.name for side in ("local", "ray")}
    for copy in copies.values():
        shutil.copytree(folder, copy)
    for side, address in (("local", None), ("ray", cluster)):
        job = PredictionJob(copies[side])
        console = tmp_path / f"console-{side}"
        run_predictions([job], cwd=tmp_path, console=console, address=address, threads=1)
        assert "hear_wrappers.heareval predictions" in (console / f"{job.name}.log").read_text()
    scores = {
        side: flat_scores(json.loads((copy / "test.predicted-scores.json").read_text()))
        for side, copy in copies.items()
    }
    assert any(key.endswith("test_score") for key in scores["local"]), scores["local"]
    assert scores["ray"] == scores["local"]
    assert (copies["ray"] / "prediction-done.json").exists()
