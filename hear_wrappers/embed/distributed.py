"""The Ray engine: audio decoding in CPU tasks, the model in encoder actors, results back to the driver.

``pip install 'hear-wrappers[distributed]'``. Layout of one run::

    driver (python -m hear_wrappers.embed)             cluster
      reads each batch's files as bytes   --------->   decode task (CPU, 0.25 CPU): soundfile -> [B, N]
      at most `max_in_flight` batches out                  | (object store, node to node)
      writes results to --embeddings-dir  <---------   encoder actor (1 GPU, or a group of CPUs): the
                                                       model(s) loaded once, one forward for all variants

* Nothing assumes a shared filesystem: the driver sends the audio files' bytes and receives the
  embeddings; only the driver touches the tasks and the output folders.
* Bounded memory: at most ``max_in_flight`` batches (default two per replica, so a replica always has
  its next batch ready) are decoded or embedded at once; each holds one batch's audio and frames.
* Faults: a batch whose actor dies (process killed, out of memory, node lost) is sent again to a fresh
  replica, at most ``max_retries`` times, then the run stops with `EmbedError` naming its clips. Errors
  of the audio or the model (`AudioError`, ``ValueError``) stop the run at once with their message.
* With no address (and no ``RAY_ADDRESS``) a local cluster sized to this machine is started for the
  run and stopped at its end; with an address the job runs on that cluster, whose nodes must have
  hear-wrappers and the model's extra installed (the module is imported there by name).
* Loopback: the local cluster binds and advertises 127.0.0.1 only (no port on the machine's network
  address, no connection leaves the machine), and an address on loopback (``127.0.0.1:6379``,
  ``localhost:6379``) is connected to on loopback. Ray 2.x on Linux otherwise rewrites ``127.0.0.1``,
  whether given as ``_node_ip_address`` or in the address, to the machine's outward address (the
  source address of a route to 8.8.8.8), so that `connect` switches off, for the ``ray.init`` call
  alone, the flag ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` under which Ray keeps loopback (see
  `loopback_ray`). Ray's head also asks the cloud metadata services (169.254.169.254) which cloud it
  runs on, even with usage statistics off; in a local cluster those requests go to a proxy on
  loopback that refuses them (`LOCAL_ONLY_PROXY`).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hear_wrappers.embed.audio import AudioError, decode_batch
from hear_wrappers.embed.plan import Variant
from hear_wrappers.embed.runner import BatchJob, BatchResult, EmbedError

__all__ = [
    "DECODE_CPUS",
    "LOCAL_ONLY_PROXY",
    "LOOPBACK",
    "RayEngine",
    "connect",
    "is_loopback",
    "loopback_env",
    "loopback_ray",
]

#: CPUs reserved by each decoding task (light: soundfile reading one batch).
DECODE_CPUS = 0.25

#: The address a local cluster binds and advertises.
LOOPBACK = "127.0.0.1"

# Ray reads this at import (ray._private.ray_constants.ENABLE_RAY_CLUSTER, default True on Linux); when
# it is off, Ray's get_node_ip_address() answers 127.0.0.1 instead of the outward address.
_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

#: A proxy for plain-http requests that refuses at once (nothing listens on loopback's discard port).
#: Ray's head always runs its usage-stats module, which asks the cloud metadata services
#: (http://169.254.169.254, http://metadata.google.internal) which cloud it is on, whether or not
#: usage statistics are enabled; through this proxy those requests fail on loopback instead.
#: Encoder replicas and decoding tasks remove it (see `_forget_local_proxy`), so model code is unaffected.
LOCAL_ONLY_PROXY = "http://127.0.0.1:9"


def loopback_env() -> dict[str, str]:
    """The environment under which Ray's processes keep to loopback (see `loopback_ray`): for ``ray
    start`` of a head node on this machine, or set by `loopback_ray` for ``ray.init``.

    A plain-http proxy the user has set is kept (their requests then go where they chose).
    """
    env = {_CLUSTER_SWITCH: "0", "RAY_USAGE_STATS_ENABLED": os.environ.get("RAY_USAGE_STATS_ENABLED", "0")}
    if not (os.environ.get("http_proxy") or os.environ.get("HTTP_PROXY")):
        env.update(http_proxy=LOCAL_ONLY_PROXY, HTTP_PROXY=LOCAL_ONLY_PROXY)
        local = "localhost,127.0.0.1,::1"
        env.update(no_proxy=local, NO_PROXY=local)
    return env


def _forget_local_proxy() -> None:
    """Drop `LOCAL_ONLY_PROXY` from this process's environment (in Ray workers, before model code runs)."""
    for key in ("http_proxy", "HTTP_PROXY"):
        if os.environ.get(key) == LOCAL_ONLY_PROXY:
            del os.environ[key]


def is_loopback(address: str | None) -> bool:
    """Whether a Ray address (``host:port``, or ``ray://host:port``) names this machine's loopback."""
    if not address:
        return False
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


@contextlib.contextmanager
def loopback_ray() -> Iterator[None]:
    """Within this block, Ray (this process and the processes it starts) takes 127.0.0.1 as this node's IP.

    Ray 2.x resolves a loopback host (in ``ray.init(address=...)``, ``_node_ip_address`` and ``ray
    start``) to ``get_node_ip_address()``, the machine's outward address, unless its single-machine
    mode is on (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, Ray's flag for machines where clusters are
    not supported), where that function answers 127.0.0.1. The flag is read once, at ``import ray``,
    so this sets it in the environment (inherited by the raylet, the GCS and the workers started
    here) and in Ray's already imported constants, and restores both on exit. Usage statistics are
    off unless the environment says otherwise, and cloud metadata requests fail on loopback
    (`LOCAL_ONLY_PROXY`): nothing Ray starts here sends a packet off the machine.
    """
    from ray._private import ray_constants

    env = loopback_env()
    saved = {key: os.environ.get(key) for key in env}
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ.update(env)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def connect(address: str | None = None, *, local_cpus: int | None = None) -> bool:
    """``ray.init`` for this package: the cluster at ``address`` (default ``$RAY_ADDRESS``), or else a
    new local cluster of ``local_cpus`` CPUs (default: all) on 127.0.0.1 only.

    Returns:
        True if a local cluster was started here (the caller shuts it down), False if an existing
        cluster was joined (or Ray was already initialised).
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and not is_loopback(address):
        ray.init(address=address, logging_level="WARNING")
        return False
    with loopback_ray():
        if address:
            ray.init(address=address, logging_level="WARNING")
            return False
        ray.init(
            num_cpus=local_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            logging_level="WARNING",
            _node_ip_address=LOOPBACK,
        )
    return True


def _decode_batch(blobs: Sequence[bytes], names: Sequence[str], task: str, sample_rate: int) -> np.ndarray:
    """Decode one batch's files (their bytes) into ``[B, N]`` float32 (a Ray task)."""
    _forget_local_proxy()
    return decode_batch(blobs, names, task=task, sample_rate=sample_rate)


class _EncoderActor:
    """One model replica (a Ray actor): the variants' model(s), loaded once."""

    def __init__(
        self,
        module: str,
        model_file: str | None,
        variants: list[tuple[dict[str, Any], str]],
        device: str | None,
        threads: int,
    ) -> None:
        import torch

        from hear_wrappers.embed.models import Embedder

        _forget_local_proxy()  # (long clips: the Embedder fixes glibc's heap at their first batch)
        torch.set_num_threads(max(1, threads))
        self.embedder = Embedder(module, model_file, [Variant(o, f) for o, f in variants], device)

    def ready(self) -> tuple[int, int, str, str, str]:
        """``(sample rate, process id, host name, node IP, device)`` once the model is loaded."""
        import ray

        node_ip = ray.util.get_node_ip_address()
        return self.embedder.sample_rate, os.getpid(), socket.gethostname(), node_ip, self.embedder.device

    def embed(
        self, audio: np.ndarray, embedding_type: str, folders: tuple[str, ...]
    ) -> tuple[dict[str, Any], int, float]:
        """``(outputs, samples per clip, model seconds)`` for one decoded batch ``[B, N]``."""
        outputs, seconds = self.embedder.embed(audio, embedding_type, folders)
        return outputs, int(audio.shape[1]), seconds


class RayEngine:
    """Embeds batches on a Ray cluster (see the module docs).

    Args:
        module: the HEAR module's import name.
        model_file: weights file for ``load_model``; it must exist at this path on every node.
        variants: the output folders.
        workers: encoder replicas (None: one per GPU in the cluster, else one).
        address: the cluster (None: ``$RAY_ADDRESS``, else a local cluster for this run).
        device: torch device in the replicas (None: CUDA when the replica has a GPU, else CPU).
        cpus_per_worker: CPUs each replica reserves (default: a GPU replica 1; a CPU replica its
            share of the cluster's CPUs less what decoding needs) and uses as torch threads.
        gpus_per_worker: GPUs each replica reserves (default 1 when the cluster has GPUs and the
            device is not ``cpu``; 0.5 puts two replicas on one GPU).
        max_retries: times a batch is sent again after its replica died.
        max_in_flight: batches decoded or embedded at once (default ``2 * workers``).
        local_cpus: CPUs of the local cluster started without an address (default: all).
    """

    name = "Ray"
    where = "a Ray cluster"

    def __init__(
        self,
        module: str,
        model_file: str | None,
        variants: Sequence[Variant],
        *,
        workers: int | None = None,
        address: str | None = None,
        device: str | None = None,
        cpus_per_worker: float | None = None,
        gpus_per_worker: float | None = None,
        max_retries: int = 2,
        max_in_flight: int | None = None,
        local_cpus: int | None = None,
    ) -> None:
        from hear_wrappers.core.imports import require

        ray = require("ray", extra="distributed")
        self._ray = ray
        self._owns_cluster = connect(address, local_cpus=local_cpus)
        try:
            self._setup(module, model_file, variants, workers, device, cpus_per_worker, gpus_per_worker)
        except BaseException:
            self.close()
            raise
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}.")
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight or 2 * len(self._actors)
        self.restarts = 0

    def _setup(
        self,
        module: str,
        model_file: str | None,
        variants: Sequence[Variant],
        workers: int | None,
        device: str | None,
        cpus_per_worker: float | None,
        gpus_per_worker: float | None,
    ) -> None:
        ray = self._ray
        resources = ray.cluster_resources()
        cluster_gpus, cluster_cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
        use_gpus = cluster_gpus >= 1 and device != "cpu"
        if workers is None:
            workers = int(cluster_gpus) if use_gpus else 1
        if workers < 1:
            raise ValueError(f"workers must be >= 1 on Ray (0 runs in this process), got {workers}.")
        if gpus_per_worker is None:
            gpus_per_worker = min(1.0, cluster_gpus / workers) if use_gpus else 0.0
        if cpus_per_worker is None:
            if gpus_per_worker > 0:
                cpus_per_worker = 1.0
            else:
                share = cluster_cpus / workers
                # leave room for decoding tasks: a quarter CPU per replica, in quarter steps
                cpus_per_worker = max(0.5, math.floor((share - DECODE_CPUS) * 4) / 4)
                # a replica lives on one node: no more than the largest node has, less decoding's share
                nodes = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")]
                cpus_per_worker = min(cpus_per_worker, max(0.5, max(nodes, default=1.0) - DECODE_CPUS))
        self.workers = workers
        self._threads = max(1, round(cpus_per_worker + DECODE_CPUS))
        self._actor_class = ray.remote(_EncoderActor).options(
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            max_restarts=0,
            scheduling_strategy="SPREAD",
        )
        self._decode = ray.remote(num_cpus=DECODE_CPUS, max_retries=3)(_decode_batch)
        self._actor_args = (module, model_file, [(v.options, v.folder_name) for v in variants], device)
        self._actors = [self._new_actor() for _ in range(workers)]
        self._generation = [0] * workers
        ready = ray.get([actor.ready.remote() for actor in self._actors])
        rates = {rate for rate, *_ in ready}
        self.sample_rate: int = rates.pop()
        self.placement = [(host, pid, ip, dev) for _rate, pid, host, ip, dev in ready]
        ips = sorted({ip for _host, _pid, ip, _dev in self.placement})
        plural = "s" if len(self.placement) > 1 else ""
        self.where = f"{len(self.placement)} encoder replica{plural} on {', '.join(ips)}"

    def _new_actor(self) -> Any:
        return self._actor_class.remote(*self._actor_args, self._threads)

    def _replace(self, slot: int) -> None:
        """A fresh replica in ``slot`` after its actor died."""
        with contextlib.suppress(Exception):  # already gone
            self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._new_actor()
        self._generation[slot] += 1
        self.restarts += 1

    def run(self, jobs: Iterable[BatchJob]) -> Iterator[tuple[BatchJob, BatchResult]]:
        """Each job with its result, in completion order, with at most `max_in_flight` outstanding."""
        ray = self._ray
        pending = iter(jobs)
        retries: deque[tuple[BatchJob, int]] = deque()
        in_flight: dict[Any, tuple[BatchJob, int, int, int]] = {}  # ref -> job, slot, attempt, generation
        load = [0] * len(self._actors)
        exhausted = False
        while True:
            while len(in_flight) < self.max_in_flight:
                if retries:
                    job, attempt = retries.popleft()
                else:
                    upcoming: BatchJob | None = None if exhausted else next(pending, None)
                    attempt = 0
                    if upcoming is None:
                        exhausted = True
                        break
                    job = upcoming
                slot = min(range(len(load)), key=load.__getitem__)
                audio = self._decode.remote(_read_bytes(job), job.names(), job.task, job.sample_rate)
                ref = self._actors[slot].embed.remote(audio, job.embedding_type, job.folders)
                in_flight[ref] = (job, slot, attempt, self._generation[slot])
                load[slot] += 1
            if not in_flight:
                return
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            job, slot, attempt, generation = in_flight.pop(ref)
            load[slot] -= 1
            try:
                outputs, n_samples, seconds = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as error:
                if generation == self._generation[slot]:
                    self._replace(slot)
                if attempt >= self.max_retries:
                    raise EmbedError(
                        f"clips {job.names()} failed {attempt + 1} times: their encoder replica died "
                        f"each time ({type(error).__name__}: {_first_line(error)}). Look for running out "
                        f"of memory on that node, or run them with --workers 0 to see the error."
                    ) from None
                retries.append((job, attempt + 1))
                continue
            except ray.exceptions.RayTaskError as error:
                cause = _root_cause(error)
                if isinstance(cause, ValueError | TypeError):
                    raise cause from None
                raise EmbedError(f"clips {job.names()}: {type(cause).__name__}: {cause}") from error
            yield job, BatchResult(outputs, n_samples, seconds)

    def close(self) -> None:
        """Stop the replicas, and the local cluster if this engine started it."""
        ray = self._ray
        for actor in getattr(self, "_actors", []):
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
            self._owns_cluster = False


def _read_bytes(job: BatchJob) -> list[bytes]:
    blobs = []
    for path, name in zip(job.paths, job.names(), strict=True):
        try:
            blobs.append(Path(path).read_bytes())
        except OSError as error:
            raise AudioError(f"task {job.task!r}, file {name}: cannot read the audio ({error}).") from None
    return blobs


def _root_cause(error: BaseException) -> BaseException:
    """The user exception inside (possibly nested) Ray task errors."""
    seen = 0
    while hasattr(error, "cause") and getattr(error, "cause", None) is not None and seen < 10:
        error = error.cause
        seen += 1
    return error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
