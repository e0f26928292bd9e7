"""Ray cluster start-up and worker groups: N actors of one role on a placement group, called with timeouts."""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from rlcore.batch import Batch
from rlcore.config import ClusterSection
from rlcore.placement import GroupPlan, RolePlacement, Strategy, could_ever_place, cpus_and_gpus, plan_group
from rlcore.ray_setup import (
    LOOPBACK,
    gcs_connect_budget,
    is_loopback_address,
    loopback_node,
    tool_path,
    torch_extensions_dir,
)
from rlcore.restarts import WorkerRestarted, await_restart, dead_ranks, restarted_by_ray
from rlcore.restarts import first_line as _first_line
from rlcore.stalls import stalled_ranks_message

log = logging.getLogger(__name__)

# Environment every actor gets; the project root goes on PYTHONPATH so actors import rlcore, actors, algorithms.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_local_cluster = False  # init_ray started the cluster itself (so no node will ever join it)


class WorkerError(RuntimeError):
    """A remote call failed; the message names the actor and the call."""


class WorkerTimeout(WorkerError):
    pass


class ClusterError(WorkerError):
    """The cluster cannot be reached, or cannot hold a worker group."""


class WorkerDied(WorkerError):
    """A worker process died; `rank` is its rank in the group (None when not known)."""

    def __init__(self, message: str, rank: int | None = None):
        super().__init__(message)
        self.rank = rank


def init_ray(cluster: ClusterSection) -> None:
    """Join the configured cluster ($RAY_ADDRESS or cluster.address), or start a local one bound to loopback."""
    global _local_cluster
    address = cluster.address or os.environ.get("RAY_ADDRESS")
    key = "cluster.address" if cluster.address else "$RAY_ADDRESS"
    if ray.is_initialized():  # e.g. a notebook that joined a cluster first: the configured one must be that one
        if cluster.address:
            check_reachable(cluster.address, cluster.connect_timeout_s, key)
            check_joined(cluster.address, ray.get_runtime_context().gcs_address)
        return
    env = {"env_vars": {"PYTHONPATH": _pythonpath()}}
    if address:
        check_reachable(address, cluster.connect_timeout_s, key)
        try:
            with gcs_connect_budget(cluster.connect_timeout_s), loopback_node(is_loopback_address(address)):
                ray.init(address=address, runtime_env=env, log_to_driver=True)
        except Exception as error:  # Ray's ConnectionError/RuntimeError/ValueError for a wrong or dead address
            raise ClusterError(
                f"{key}: cannot join the Ray cluster at {address} ({_first_line(error)}); check the address, or raise "
                f"cluster.connect_timeout_s"
            ) from error
        _local_cluster = False
        return
    _local_cluster = True
    num_cpus = cluster.num_cpus or max(8, os.cpu_count() or 1)
    # Ray starts workers at nice 15; every heavy process of a run is a worker, so they should not yield the
    # machine to anything else the user runs beside them.
    os.environ.setdefault("RAY_worker_niceness", "0")
    with loopback_node(True):
        ray.init(
            num_cpus=int(num_cpus),
            include_dashboard=False,
            runtime_env=env,
            _node_ip_address=LOOPBACK,
            log_to_driver=True,
            configure_logging=False,
        )


def check_reachable(address: str, timeout_s: float, key: str) -> None:
    """A TCP connection to the head's host:port within `timeout_s`, so an unreachable address fails at once rather
    than after Ray's own retries ('auto'/'local' and addresses without a port are left to Ray)."""
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if "://" in bare or not host or not port.isdigit():  # another scheme (e.g. a dashboard URL): Ray's to judge
        return
    host = host.strip("[]")  # an IPv6 literal
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ClusterError(
            f"{key}: cannot reach the Ray cluster at {address} within {timeout_s:g}s ({reason}); check the address "
            f"and that its head node runs (`ray start --head`), or raise cluster.connect_timeout_s"
        ) from None


def check_joined(address: str, joined: str) -> None:
    """A ClusterError when this process already joined another cluster (by GCS port) than `address` names."""
    port, joined_port = address.rpartition(":")[2], joined.rpartition(":")[2]
    if port.isdigit() and port != joined_port:
        raise ClusterError(
            f"cluster.address: this process already joined the Ray cluster at {joined}, not {address}; call "
            "ray.shutdown() first, or leave cluster.address empty to use the joined one"
        )


def _pythonpath() -> str:
    parts = [PROJECT_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


def actor_env(torch_threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of one actor process: thread caps so actors on a few cores do not oversubscribe them."""
    env = {
        "OMP_NUM_THREADS": str(torch_threads),
        "MKL_NUM_THREADS": str(torch_threads),
        "RLCORE_TORCH_THREADS": str(torch_threads),
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": _pythonpath(),
    }
    for key in ("RLCORE_CACHE", "HF_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(TORCH_EXTENSIONS_DIR=torch_extensions_dir(), PATH=tool_path())  # one build of DeepSpeed's ops
    env.update(extra or {})
    return env


class WorkerGroup:
    """N actors of one class on one placement group.

    `call(method, batch, **kwargs)` splits the batch over the actors in order and concatenates the results in order;
    `broadcast(method, **kwargs)` sends the same arguments to every actor; `call_each(method, [kwargs, ...])` one set
    per actor. Arguments other than the batch go by name. An actor class declares the methods a group may call
    (`remote_methods`), and `uses` names those its caller will call: a misspelt name fails when the group is built,
    and a call to an undeclared method fails before anything is sent. Every call has a timeout, and a dead or hung
    actor surfaces as a WorkerError naming the actor and the method.

    With `max_restarts` set, Ray restarts a worker whose process dies (actor restarts, up to that many times per
    worker; 0: the budget is spent from the start; None: never, e.g. learner ranks): the call it was running, or the
    first one it gets unprepared (`Worker.require_up_to_date`), is redone on it with the same arguments (its shard
    only) after `on_restart(rank)` has brought it up to date (e.g. the current weights). Ray itself never retries a
    task (max_task_retries=0), as a restarted worker must be brought up to date first.
    """

    def __init__(
        self,
        name: str,
        actor_class: type,
        num_workers: int,
        *,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        env: dict[str, str] | None = None,
        strategy: Strategy = "PACK",
        placement: RolePlacement | None = None,
        tensor_parallel_size: int = 1,
        call_timeout_s: float = 900.0,
        init_kwargs: dict[str, Any] | None = None,
        start_timeout_s: float = 300.0,
        uses: Sequence[str] = (),
        max_restarts: int | None = None,
        on_restart: Callable[[int], str | None] | None = None,
        shared: tuple[PlacementGroup, GroupPlan] | None = None,
        wait_ready: bool = True,
    ):
        """`shared`: start on this placement group, with this plan of it, instead of reserving one (colocated roles'
        shared group, rlcore.colocation): the caller reserved it and removes it; the sizes and placement are unused.
        `wait_ready=False` returns while the workers still start (several groups can start at once): then call
        `await_ready` before using the group."""
        self.name = name
        self.max_restarts = max_restarts
        self.on_restart = on_restart  # returns what it did, for the log line
        self.restarts = [0] * num_workers  # per rank, as Ray counts them
        self.start_timeout_s = start_timeout_s
        self.methods = declared_methods(actor_class)
        for method in uses:
            self._check(method)
        self.call_timeout_s = call_timeout_s
        self.owns_placement = shared is None
        if shared is None:
            # A tensor-parallel engine's actor takes a CPU bundle, its GPU workers one-GPU bundles (rank_env says
            # which).
            plan = plan_group(
                num_workers,
                num_cpus,
                num_gpus,
                strategy=strategy,
                placement=placement,
                tensor_parallel_size=tensor_parallel_size,
            )
            shared = (reserve_placement(name, plan, start_timeout_s), plan)
        self.placement_group, self.plan = shared
        self.remote_class: Any = ray.remote(actor_class)
        self.env, self.init_kwargs = env or {}, init_kwargs or {}
        # Per rank, the placement group holding it: workers added later (rlcore.elastic) come with their own.
        self.rank_groups: list[PlacementGroup] = [self.placement_group] * num_workers
        self.actors: list[Any] = [
            self.start_actor(rank, num_workers, self.placement_group, self.plan, rank) for rank in range(num_workers)
        ]
        self.starting = [actor.ready.remote() for actor in self.actors]
        if wait_ready:
            self.await_ready()

    def await_ready(self) -> None:
        """Wait until every worker has started (its constructor ran: models loaded, engines up)."""
        refs, self.starting = self.starting, []
        self.wait(["ready"] * len(refs), refs, timeout=self.start_timeout_s)

    def start_actor(self, rank: int, world_size: int, group: PlacementGroup, plan: GroupPlan, slot: int) -> Any:
        """Start the actor of `rank` in the bundles of `plan`'s worker `slot` of the placement group `group`."""
        return self.remote_class.options(
            num_cpus=plan.actor_cpus,
            num_gpus=plan.actor_gpus,
            resources=plan.actor_resources or None,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=plan.actor_bundles[slot]
            ),
            runtime_env={"env_vars": {**self.env, **plan.rank_env(slot)}},
            max_concurrency=1,
            max_restarts=self.max_restarts or 0,
            max_task_retries=0,
        ).remote(rank=rank, world_size=world_size, **self.init_kwargs)

    def __len__(self) -> int:
        return len(self.actors)

    def call(self, method: str, batch: Batch, *, timeout: float | None = None, **kwargs: Any) -> Batch:
        """Shard the batch over the actors (empty shards are skipped), run, and gather in order."""
        self._check(method)
        shards = batch.split(len(self.actors))
        calls = {rank: {"batch": shard, **kwargs} for rank, shard in enumerate(shards) if len(shard)}
        return Batch.concat(self._run(method, calls, timeout))

    def broadcast(self, method: str, *, timeout: float | None = None, **kwargs: Any) -> list[Any]:
        self._check(method)
        return self._run(method, dict.fromkeys(range(len(self.actors)), kwargs), timeout)

    def call_each(
        self, method: str, per_rank_kwargs: Sequence[dict[str, Any]], *, timeout: float | None = None
    ) -> list[Any]:
        """Different arguments per actor (e.g. pre-split data), by name."""
        self._check(method)
        return self._run(method, dict(enumerate(per_rank_kwargs)), timeout, strict=True)

    def _run(
        self, method: str, calls: dict[int, dict[str, Any]], timeout: float | None, strict: bool = False
    ) -> list[Any]:
        """Call `method` on each rank of `calls` with its arguments; results in rank order. In a restartable group a
        worker that died, or hung past the timeout, is replaced and its call alone redone; completed calls are kept."""
        if strict and len(calls) != len(self.actors):
            raise ValueError(f"{self.name}.{method}: {len(calls)} sets of arguments for {len(self.actors)} workers")

        def submit(rank: int) -> ray.ObjectRef:
            return getattr(self.actors[rank], method).remote(**calls[rank])

        refs = {rank: submit(rank) for rank in calls}
        while True:
            try:
                return self.wait([method] * len(refs), list(refs.values()), list(refs), timeout=timeout)
            except WorkerError as failed:
                casualties = _casualties(failed, refs)
                if self.max_restarts is None or casualties is None:
                    raise
                for rank, fate in casualties:
                    self.replace(rank, method, failed, fate)
                    refs[rank] = submit(rank)

    def replace(self, rank: int, method: str, died: WorkerError, fate: str = "died during") -> None:
        """Wait for Ray to restart the dead worker `rank`, bring it up to date; WorkerDied once the budget is spent."""
        if self.restarts[rank] >= (self.max_restarts or 0):
            raise WorkerDied(
                f"{died}; it was restarted {self.restarts[rank]} time(s) already, the budget of "
                f"cluster.max_worker_restarts ({self.max_restarts}), so the run stops here",
                rank,
            ) from None
        self.restarts[rank] += 1
        if fate == "hung in":  # e.g. stopped: Ray kills the process and restarts the actor
            ray.kill(self.actors[rank], no_restart=False)
        if failure := await_restart(self.actors[rank], self.start_timeout_s):
            raise WorkerDied(f"{self.name}[{rank}] died during {method} and {failure}", rank)
        done = self.on_restart(rank) if self.on_restart else None
        log.warning(
            "%s[%d] %s %s; Ray restarted it (%d of %d restarts)%s; its call is redone",
            self.name,
            rank,
            fate,
            method,
            self.restarts[rank],
            self.max_restarts,
            f", {done}" if done else "",
        )

    def dead_ranks(self) -> list[int]:
        """The ranks whose worker is dead for good (a busy one, e.g. waiting in a collective, counts as alive)."""
        return dead_ranks(self.actors)

    def _check(self, method: str) -> None:
        if method not in self.methods:
            hint = difflib.get_close_matches(method, self.methods, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise WorkerError(
                f"{self.name}: {method!r} is not a remote method of its workers{maybe}; "
                f"declared: {', '.join(sorted(self.methods))}"
            )

    def wait(
        self,
        methods: Sequence[str],
        refs: Sequence[ray.ObjectRef],
        ranks: Sequence[int] | None = None,
        timeout: float | None = None,
    ) -> list[Any]:
        """ray.get with one deadline for all refs; failures name the actor, its rank and the method."""
        ranks = list(ranks) if ranks is not None else list(range(len(refs)))
        deadline = time.monotonic() + (timeout or self.call_timeout_s)
        results = []
        for rank, method, ref in zip(ranks, methods, refs, strict=True):
            where = f"{self.name}[{rank}].{method}"
            try:
                results.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
            except GetTimeoutError:
                within = f"within {timeout or self.call_timeout_s:.0f}s"
                if stalled := stalled_ranks_message(self.name, self.actors, rank, method):  # maybe another rank
                    raise WorkerTimeout(f"{stalled} (no result {within})") from None
                raise WorkerTimeout(
                    f"{where} did not finish {within} (hung worker or too small cluster.call_timeout_s)"
                ) from None
            except RayActorError as error:
                raise WorkerDied(f"{where}: the worker process died ({_first_line(error)})", rank) from None
            except RayTaskError as error:
                raise WorkerError(f"{where} raised {type(error.cause).__name__}: {error.cause}") from error.cause
        return results

    def shutdown(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        groups = {group.id: group for group in [self.placement_group, *self.rank_groups]}
        if not self.owns_placement:  # a shared group outlives this one (e.g. a learner group restarted on it)
            groups.pop(self.placement_group.id)
        for group in groups.values():
            with contextlib.suppress(Exception):
                remove_placement_group(group)


def _casualties(error: WorkerError, refs: dict[int, ray.ObjectRef]) -> list[tuple[int, str]] | None:
    """The workers to replace after `error`, with what happened to each; None when it is no worker's death or hang."""
    if isinstance(error, WorkerTimeout):  # past the deadline: whichever call has not finished is hung
        return [(rank, "hung in") for rank, ref in refs.items() if not ray.wait([ref], timeout=0)[0]]
    if isinstance(error, WorkerDied) and error.rank is not None:
        return [(error.rank, "died during")]
    if isinstance(error.__cause__, WorkerRestarted):  # it died between calls and Ray restarted it unnoticed
        return [(error.__cause__.rank, "died before")]
    return None


def reserve_placement(name: str, plan: GroupPlan, timeout_s: float) -> PlacementGroup:
    """The group's placement group, ready; a ClusterError at once when a local cluster can never hold it."""
    if _local_cluster and not could_ever_place(plan, nodes := ray.nodes()):  # no node will join: waiting cannot help
        constrained = plan.actor_resources or plan.label_selector
        hint = f"; drop cluster.placement.{name} (its node has no custom resources or labels)" if constrained else ""
        raise ClusterError(
            f"{name}: this local cluster can never place {plan.describe()}: its node has {cpus_and_gpus(nodes)}; lower "
            f"{name}.num_workers / num_cpus / num_gpus (or raise cluster.num_cpus){hint}"
        )
    group = placement_group(plan.bundles, strategy=plan.strategy, bundle_label_selector=plan.label_selector)
    try:
        ray.get(group.ready(), timeout=timeout_s)
    except GetTimeoutError:
        remove_placement_group(group)
        raise WorkerTimeout(
            f"{name}: the cluster could not place {plan.describe()} within {timeout_s:g}s (cluster.start_timeout_s); "
            f"available resources: {ray.available_resources()}"
        ) from None
    return group


def declared_methods(actor_class: type) -> frozenset[str]:
    """The methods a worker group may call on actors of this class: `remote_methods` along the class hierarchy,
    each of which must be a method of the class."""
    names = frozenset().union(*(vars(cls).get("remote_methods", ()) for cls in actor_class.__mro__))
    missing = sorted(name for name in names if not callable(getattr(actor_class, name, None)))
    if missing:
        raise TypeError(f"{actor_class.__name__} declares remote methods it does not define: {missing}")
    return names


class Worker:
    """Base of every actor class: rank bookkeeping, thread caps and a readiness probe.

    Subclasses list the methods their group may call in `remote_methods` (added to the base's)."""

    remote_methods: ClassVar[tuple[str, ...]] = ("ready", "node_address")

    def __init__(self, rank: int = 0, world_size: int = 1):
        import torch

        self.rank = rank
        self.world_size = world_size
        torch.set_num_threads(int(os.environ.get("RLCORE_TORCH_THREADS", "1")))
        logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {type(self).__name__}[{rank}] %(message)s")
        # A process Ray restarted after a death starts from its start-up state, which may be out of date.
        self.restarted = restarted_by_ray()

    def require_up_to_date(self) -> None:
        """In a method that needs the group's current state: a restarted worker not yet brought up to date refuses."""
        if self.restarted:
            raise WorkerRestarted(self.rank)

    def ready(self) -> bool:
        return True

    def node_address(self) -> str:
        return ray.util.get_node_ip_address()
