"""Runtime: the worker groups of one run (rollout, learner, reference, reward) and the mechanisms that move
batches between them. Algorithms call these methods; they never handle placement, sharding or sync themselves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from ray.util.placement_group import remove_placement_group

from actors.gpu_sharing import GpuSharing
from actors.learner import LearnerWorker
from actors.reference import ReferenceWorker
from actors.reward import RewardWorker
from actors.rollout import RolloutWorker, mix_seed, rollout_env
from rlcore.batch import Batch
from rlcore.cluster import WorkerGroup, actor_env, init_ray, reserve_placement
from rlcore.colocation import colocated_plan
from rlcore.config import RunConfig
from rlcore.elastic import ScalePolicy, generation_share, grow, shrink, target_workers
from rlcore.losses import Aggregation
from rlcore.modeling import resolve_model_path
from rlcore.packing import balanced_shards, sequence_lengths
from rlcore.rollout_ahead import RolloutAhead
from rlcore.weight_sync import (
    ENGINE_CALLS,
    IPC_ENGINE_CALLS,
    IPC_SOURCE_CALLS,
    SOURCE_CALLS,
    CollectiveSync,
    make_weight_sync,
)

log = logging.getLogger(__name__)
ROLES = ("rollout", "learner", "reference", "reward")  # what a run starts unless its algorithm says otherwise
OPTIONAL_ROLES = ("reference_rollout",)  # if an algorithm asks: vLLM with the frozen reference (not log-probs only)
# Roles whose vLLM engine runs its tensor-parallel workers through Ray, on one-GPU bundles of the group.
RAY_ENGINE_ROLES = ("rollout", "reference_rollout")
# The worker methods each group is called with (here and in rlcore.weight_sync), checked when the group starts.
CALLS = {
    "rollout": ("generate", "load_weights", "set_policy_version", "sleep", "wake_up", *ENGINE_CALLS, *IPC_ENGINE_CALLS),
    "learner": (
        "free_port",
        "init_engine",
        "logprobs",
        "train",
        "weight_buckets",
        "save_checkpoint",
        "load_training_state",
        "offload_states",
        *SOURCE_CALLS,
        *IPC_SOURCE_CALLS,
    ),
    "reference": ("logprobs",),
    "reference_rollout": ("generate",),
    "reward": ("score",),
}


class Runtime:
    def __init__(
        self,
        config: RunConfig,
        *,
        total_optimizer_steps: int,
        need_reference: bool = False,
        policy_path: str | None = None,
        roles: Sequence[str] = ROLES,
    ):
        """Start the worker groups named in `roles` (the reference only if the run needs one). `policy_path` (a
        checkpoint) replaces the base model for rollout and learner."""
        unknown = sorted(set(roles) - set(ROLES) - set(OPTIONAL_ROLES))
        if unknown:
            raise ValueError(f"unknown runtime roles {unknown}; choose from {[*ROLES, *OPTIONAL_ROLES]}")
        self.config = config
        self.base_model_path = resolve_model_path(config.model.path)  # fail before starting anything
        reference_path = resolve_model_path(config.reference.model_path or config.model.path)
        reference = config.reference.enabled or (config.reference.enabled is None and need_reference)
        starts = [role for role in roles if role != "reference" or reference]
        self.colocated = colocated_plan(config, starts)  # a ConfigError before anything starts
        init_ray(config.cluster)
        # Colocated roles start on one placement group the runtime owns (their groups only use it).
        self.shared_placement = (
            reserve_placement(self.colocated.name, self.colocated.shared, config.cluster.start_timeout_s)
            if self.colocated
            else None
        )
        self.policy_path = policy_path or self.base_model_path
        self.policy_version = 0
        self.step, self.generate_calls = 0, 0  # which sampling seed the next generate call gets (begin_step)
        self.total_optimizer_steps = total_optimizer_steps
        self.groups: dict[str, WorkerGroup] = {}
        self.weight_refs: list[Any] = []  # the last sync's buckets, for a rollout worker Ray restarts
        self.restarts_reported = 0
        self.weights = make_weight_sync(  # weight_sync.transport's driver side
            config.weight_sync.transport,
            on_gpus=config.rollout.num_gpus > 0 and config.learner.num_gpus > 0,
            timeout_s=config.cluster.call_timeout_s,
        )
        # The weight group, built at the first sync (weight_sync.transport: collective).
        self.collective = self.weights if isinstance(self.weights, CollectiveSync) else None
        self.learner_moved, self.syncing = False, False  # trained since the last sync | inside sync_weights
        rollout = config.rollout
        self.scale_policy = ScalePolicy.from_config(rollout) if rollout.autoscale.enabled else None
        self.steps_since_scale = rollout.autoscale.cooldown_steps + 1  # the first step may resize
        self.rollout_workers = rollout.num_workers  # how many generated the last training rollout
        self.ahead = RolloutAhead(rollout.async_steps) if rollout.async_steps else None  # generations in flight
        started = time.perf_counter()
        try:
            self._start_groups(roles, starts, reference_path)
        except BaseException:
            self.shutdown()  # the groups that did start, and their placement groups
            raise
        self.startup_seconds = time.perf_counter() - started
        self.gpu = GpuSharing(config, self.colocated, self.groups)  # sleeping engines, offloaded optimizer (GPUs)
        log.info("worker groups %s ready in %.1fs", list(self.groups), self.startup_seconds)
        if self.colocated:
            log.info("colocated: %s share the bundles %s", self.colocated.name, self.colocated.shared.bundles)

    def _start_groups(self, roles: Sequence[str], starts: Sequence[str], reference_path: str) -> None:
        """Every group starts at once and is then waited for (their model loads and engine starts overlap), except
        under colocation, where a vLLM engine sizes its GPU memory at start and must not race the others for it."""
        config = self.config
        if "rollout" in roles:
            self._start_rollout("rollout", self.policy_path, on_restart=self._rollout_restarted)
        if "reference_rollout" in roles:  # rollout's settings, the frozen reference's weights (never synced)
            self._start_rollout("reference_rollout", reference_path)
        if "learner" in roles:
            self._start_learner()
        if "reference" in starts:
            self._group(
                "reference",
                ReferenceWorker,
                config.reference,
                {},
                model_path=reference_path,
                dtype=config.model.dtype,
                attn_implementation=config.model.attn_implementation,
                micro_batch_size=config.reference.micro_batch_size,
                share_prompts=config.model.prompts_shared,
            )
        if "reward" in roles:
            # A model reward that hosts an engine (rprm's vLLM) says what its worker process needs.
            reward_env: dict[str, str] = getattr(config.reward, "worker_env", dict)()
            self._group("reward", RewardWorker, config.reward, reward_env, reward=config.reward.model_dump())
        for group in self.groups.values():
            group.await_ready()
        if "learner" in self.groups:
            self._init_learner()

    def _start_rollout(self, name: str, model_path: str, on_restart: Callable[[int], str | None] | None = None) -> None:
        rollout, model = self.config.rollout, self.config.model  # vLLM workers of `model_path`, rollout's settings
        self._group(
            name,
            RolloutWorker,
            rollout,
            rollout_env(rollout),
            model_path=model_path,
            rollout=rollout.model_dump(),
            dtype=model.dtype,
            seed=self.config.run.seed,
            on_restart=on_restart,
        )

    def _start_learner(self) -> None:
        """The learner group from `policy_path` (`_init_learner` joins its ranks in one DeepSpeed engine). Not
        restartable by Ray: a rank's death breaks the process group and loses optimizer state (see
        `restart_learner`)."""
        config = self.config
        self._group(
            "learner",
            LearnerWorker,
            config.learner,
            {"DS_ACCELERATOR": "cpu"} if config.learner.num_gpus == 0 else {},
            model_path=self.policy_path,
            learner=config.learner.model_dump(),
            model=config.model.model_dump(),
            seed=config.run.seed,
            total_optimizer_steps=self.total_optimizer_steps,
        )

    def _init_learner(self) -> None:
        """Once its ranks have started, join them in one DeepSpeed engine."""
        learner = self.group("learner")
        learner.await_ready()
        address, port = learner.wait(["free_port"], [learner.actors[0].free_port.remote()])[0]
        learner.broadcast("init_engine", master_addr=address, master_port=port)

    def _group(
        self,
        name: str,
        actor_class: type,
        section: Any,
        extra_env: dict[str, str],
        on_restart: Callable[[int], str | None] | None = None,
        **init_kwargs: Any,
    ) -> None:
        cluster = self.config.cluster
        colocated = self.colocated.roles.get(name) if self.colocated else None
        group = WorkerGroup(
            name,
            actor_class,
            section.num_workers,
            env=actor_env(cluster.torch_threads, extra_env),
            **placement_options(self.config, name, section),
            call_timeout_s=cluster.call_timeout_s,
            start_timeout_s=cluster.start_timeout_s,
            init_kwargs=init_kwargs,
            uses=CALLS[name],
            max_restarts=None if name == "learner" else cluster.max_worker_restarts,  # learner: restart_learner
            on_restart=on_restart,
            shared=(self.shared_placement, colocated) if self.shared_placement and colocated else None,
            wait_ready=bool(self.colocated),  # see _start_groups
        )
        self.groups[name] = group

    # ---- the verbs algorithms use -----------------------------------------------------------------------------
    def begin_step(self, step: int) -> None:
        """The generate calls from now on belong to training step `step` (the loop says so before each step and
        before each round's start). Each call re-seeds the rollout engines from (run.seed, step, call number within
        the step), so a resumed run samples what the uninterrupted run sampled. The count restarts only when the
        step changes: a round's start and its first step share a number without sharing seeds."""
        if step != self.step:
            self.step, self.generate_calls = step, 0

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        """n samples per prompt row; adds `group` (prompt index) so that samples of one prompt stay together."""
        return self._generate("rollout", prompts, n, sampling)

    def _generate(self, role: str, prompts: Batch, n: int, sampling: dict[str, Any] | None) -> Batch:
        seed = mix_seed(self.config.run.seed, self.step, self.generate_calls)  # one count for both generators
        self.generate_calls += 1
        return self._generation(role, prompts, n, sampling, seed)()

    def _generation(
        self, role: str, prompts: Batch, n: int, sampling: dict[str, Any] | None, seed: int
    ) -> Callable[[], Batch]:
        """The generate call of `prompts` on the `role` workers, ready to run (here or in the background)."""
        if role == "rollout":
            self.gpu.for_generation(refill=self._refill_engines)
            self.rollout_workers = len(self.group(role))  # the batch is split over the workers there are now
        prompts = prompts.with_columns(group=list(range(len(prompts))))
        return partial(self.group(role).call, "generate", prompts, n=n, sampling=sampling, seed=seed)

    def rollout(
        self, step: int, prompts: Callable[[int], Batch], n: int, last_step: int, position: Callable[[], Any]
    ) -> Batch:
        """The samples of training step `step`: n per prompt of `prompts(step)`, with tensors `policy_version` (of
        the policy that generated each) and `staleness` (versions behind the learner's now). rollout.async_steps 0:
        generated now, exactly as `generate`. k > 0: started while an earlier step trained (its call seeded as the
        step's first generate call), after starting the steps up to k ahead (not past `last_step`); `position()` is
        where the prompt source stands before a step's prompts are drawn, kept for checkpoints (`resume_position`)."""
        if self.ahead is None:
            samples = self.generate(prompts(step), n)
        else:

            def start(ahead: int) -> Callable[[], Batch]:
                seed = mix_seed(self.config.run.seed, ahead, 0)
                return self._generation("rollout", prompts(ahead), n, None, seed)

            samples = self.ahead.take(step, last_step, start, position)
            self.generate_calls = max(self.generate_calls, 1)  # the step's first call was the one started ahead
        version = int(samples.meta.get("policy_version", 0))
        staleness = self.policy_version - version
        if not 0 <= staleness <= self.config.rollout.async_steps:  # the pipeline's invariant, checked every step
            raise RuntimeError(
                f"step {step}'s samples come from policy version {version} and the learner is at "
                f"{self.policy_version}: {staleness} versions, outside 0..rollout.async_steps"
            )
        return samples.with_tensors(
            policy_version=np.full(len(samples), version), staleness=np.full(len(samples), staleness)
        )

    def resume_position(self, current: Any) -> Any:
        """Where a checkpoint's prompt source resumes: before the prompts of steps started but not yet trained (a
        resume starts their generation again, with the checkpoint's policy); `current` without async rollout."""
        return self.ahead.position(current) if self.ahead else current

    def reference_generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        """`generate` with the frozen reference model (the reference_rollout workers an algorithm asked for)."""
        return self._generate("reference_rollout", prompts, n, sampling)

    def score(self, samples: Batch) -> Batch:
        return samples.with_tensors(**self.group("reward").call("score", samples).tensors)

    def reference_logprobs(self, samples: Batch, temperature: float = 1.0) -> Batch:
        self.gpu.for_training()
        if "reference" not in self.groups:
            raise RuntimeError("this run has no reference workers (set reference.enabled: true)")
        return samples.with_tensors(
            **self.group("reference").call("logprobs", samples, temperature=temperature).tensors
        )

    def policy_logprobs(self, samples: Batch, temperature: float = 1.0) -> Batch:
        self.gpu.for_training()
        padded = _pad_to_multiple(samples, len(self.group("learner")))
        logprobs = self.group("learner").call("logprobs", padded, temperature=temperature)["logprobs"]
        return samples.with_tensors(old_logprobs=logprobs[: len(samples)])

    def train(
        self,
        samples: Batch,
        loss: str,
        loss_params: dict[str, Any],
        aggregation: Aggregation = "token-mean",
        mini_batches: int = 1,
        epochs: int = 1,
        temperature: float = 1.0,
    ) -> dict[str, float]:
        """One learner update on `samples` (split evenly over the ranks, by tokens with `learner.balance_ranks`); the
        learners reduce the metrics over ranks (sums and counts), so every rank returns the whole batch's values."""
        ranks = len(self.group("learner"))
        rows_per_unit = 2 if aggregation == "pair-mean" else 1  # a pair's two rows stay on one rank
        if len(samples) % (ranks * mini_batches * rows_per_unit):
            unit = "pairs" if rows_per_unit == 2 else "training samples"
            raise ValueError(
                f"{len(samples) // rows_per_unit} {unit} do not split into {ranks} learner ranks x "
                f"{mini_batches} mini-batches; choose sizes that divide evenly"
            )
        shards = (
            [
                samples.select(rows)
                for rows in balanced_shards(sequence_lengths(samples), ranks, mini_batches, rows_per_unit)
            ]
            if self.config.learner.balance_ranks and ranks > 1
            else samples.split(ranks)
        )
        options: dict[str, Any] = {"loss": loss, "loss_params": loss_params, "aggregation": aggregation}
        options |= {"mini_batches": mini_batches, "epochs": epochs, "temperature": temperature}
        self.gpu.for_training()
        self.learner_moved = True
        results = self.group("learner").call_each("train", [{"batch": shard, **options} for shard in shards])
        return results[0]

    def sync_weights(self, new_version: bool = True) -> dict[str, float]:
        """Push the learner's weights to every rollout worker; the new policy version is one higher (the same with
        `new_version` off: after the learner group restarted from a checkpoint)."""
        waited = time.perf_counter()
        if self.ahead:  # the engines take the new weights after the generations already started, not amid them
            self.ahead.wait_all()
        waited = time.perf_counter() - waited
        self.policy_version += int(new_version)
        self.gpu.for_sync()
        self.syncing = True  # a rollout worker replaced now gets this sync's weights (_rollout_restarted)
        try:
            stats = self.weights.sync(
                self.group("learner"),
                self.group("rollout"),
                self.config.weight_sync.bucket_mb,
                self.config.model.dtype,
                self.policy_version,
            )
        finally:
            self.syncing = False
        self.learner_moved = False
        self.gpu.synced()
        if self.group("rollout").max_restarts:  # kept (one copy of the weights) for a rollout worker Ray restarts
            self.weight_refs = stats.bucket_refs  # none with the collective or ipc transport: see _rollout_restarted
        return stats.metrics() | ({"sync/rollout_wait_s": waited} if self.ahead else {})

    def _refill_engines(self) -> None:
        """After a level-2 sleep without a sync since: the learner's weights, if they still are the engines' policy."""
        if self.learner_moved or "learner" not in self.groups:
            raise RuntimeError(
                "rollout.sleep_level 2 freed the engines' weights, and no learner holds their policy any more (it "
                "trained since, or this run has none); use rollout.sleep_level 1, which keeps them in CPU memory"
            )
        self.sync_weights(new_version=False)

    def _rollout_restarted(self, rank: int) -> str:
        """Bring rollout worker `rank`, just restarted by Ray (with its start-up weights), to the current policy."""
        group = self.group("rollout")
        actor, version = group.actors[rank], self.policy_version
        refs = self.weight_refs
        if self.weights.synced and not self.syncing:  # collective, ipc: no copy of the weights is kept
            refs = self._fallback_refs()
        if refs:
            group.wait(["load_weights"], [actor.load_weights.remote(bucket_refs=refs, version=version)], [rank])
            return f"weights of policy version {version} re-sent"
        group.wait(["set_policy_version"], [actor.set_policy_version.remote(version=version)], [rank])
        return f"policy version {version} (its start-up weights)"

    def _fallback_refs(self) -> list[Any]:
        """Under the collective or ipc transport a replaced rollout worker gets the current policy through the object
        store (the other engines keep theirs): the learner's weights, serialized once, while they still are that
        policy."""
        if self.learner_moved:
            raise RuntimeError(
                "a rollout worker was replaced after the learner trained past the policy the engines hold; the "
                f"{self.config.weight_sync.transport} weight transport keeps no copy of that policy (use "
                "weight_sync.transport: object_store)"
            )
        return self.group("learner").broadcast(
            "weight_buckets", bucket_mb=self.config.weight_sync.bucket_mb, dtype=self.config.model.dtype
        )[0]

    # ---- elastic rollout (rollout.autoscale) ------------------------------------------------------------------
    @property
    def autoscaling(self) -> bool:
        return self.scale_policy is not None and "rollout" in self.groups

    def autoscale(self, step_metrics: dict[str, float]) -> int:
        """Between steps: resize the rollout group by the last step's generation share (rlcore.elastic's policy);
        returns the worker count the next step will have."""
        group = self.group("rollout")
        if self.scale_policy is None:
            return len(group)
        self.steps_since_scale += 1
        before = len(group)
        target = target_workers(before, step_metrics, self.scale_policy, self.steps_since_scale)
        share = f"generation took {100 * (generation_share(step_metrics) or 0):.0f}% of the step"
        if target > before:
            log.info("%s: adding %d rollout worker(s) to the %d there are", share, target - before, before)
            grow(group, target - before, bring_up=self._rollout_added)
        elif target < before:
            log.info("%s: removing %d of the %d rollout workers", share, before - target, before)
            self.restarts_reported -= sum(group.restarts[target:])  # reported already; they leave with the workers
            shrink(group, before - target, self.scale_policy.min_workers)
        if len(group) != before:
            self.steps_since_scale = 0
        return len(group)

    def _rollout_added(self, rank: int) -> str:
        """Bring a rollout worker added by `autoscale` (started from `policy_path`) to the current policy, as a
        restarted one; where no copy of the last sync's weights was kept (cluster.max_worker_restarts: 0), from the
        learner, which holds that policy between steps."""
        if self.weight_refs or not self.weights.keeps_copy or "learner" not in self.groups:
            return self._rollout_restarted(rank)
        group, version = self.group("rollout"), self.policy_version
        refs = self._fallback_refs()
        group.wait(
            ["load_weights"], [group.actors[rank].load_weights.remote(bucket_refs=refs, version=version)], [rank]
        )
        return f"weights of policy version {version} sent"

    def restart_learner(self, policy_path: str | None) -> None:
        """Replace the learner group (after one of its ranks died) with a fresh one started from `policy_path` (a
        checkpoint; None: the base model). The caller restores its training state and pushes its weights."""
        if self.ahead:  # generated by a policy the restart discards, from prompts the sampler will draw again
            self.ahead.discard()
        self.groups.pop("learner").shutdown()
        self.weight_refs = []  # held by the dead group's rank 0: gone with it
        self.policy_path = policy_path or self.base_model_path
        self._start_learner()
        self._init_learner()

    def take_restarts(self) -> int:
        """Workers Ray restarted since the last call (for the step's metrics)."""
        total = sum(sum(group.restarts) for group in self.groups.values())
        new, self.restarts_reported = total - self.restarts_reported, total
        return new

    def set_policy_version(self, version: int) -> None:
        self.policy_version = version
        if "rollout" in self.groups:  # a learner-only run (SFT) has no rollout workers to tell
            self.group("rollout").broadcast("set_policy_version", version=version)

    def save_checkpoint(self, path: Path) -> None:
        self.group("learner").broadcast(
            "save_checkpoint",
            directory=str(path),
            tokenizer_path=self.base_model_path,
            save_optimizer=self.config.checkpoint.save_optimizer,
        )

    def load_training_state(self, path: Path) -> bool:
        return all(self.group("learner").broadcast("load_training_state", directory=str(path)))

    def group(self, role: str) -> WorkerGroup:
        """The started worker group of `role`; an error that says so when this runtime did not start it."""
        if role not in self.groups:
            raise RuntimeError(f"this runtime has no {role} workers (started: {', '.join(self.groups) or 'none'})")
        return self.groups[role]

    def shutdown(self) -> None:
        if self.ahead:
            self.ahead.close()
        for group in reversed(list(self.groups.values())):
            group.shutdown()
        self.groups.clear()
        if self.shared_placement:
            remove_placement_group(self.shared_placement)
            self.shared_placement = None


def placement_options(config: RunConfig, role: str, section: Any) -> dict[str, Any]:
    """How the group of `role` (configured by `section`) is placed: CPUs and GPUs per worker, the strategy, the
    nodes it may use (cluster.placement) and, for a vLLM engine, the bundles of its tensor-parallel shards."""
    return {
        "num_cpus": section.num_cpus,
        "num_gpus": section.num_gpus,
        "strategy": config.cluster.placement_strategy,
        "placement": config.cluster.placement.of(role),
        "tensor_parallel_size": section.tensor_parallel_size if role in RAY_ENGINE_ROLES else 1,
    }


def _pad_to_multiple(batch: Batch, multiple: int) -> Batch:
    """Repeat the last row so that every rank gets the same number of rows (ZeRO-3 needs equal forwards)."""
    extra = (-len(batch)) % multiple
    return batch.select(list(range(len(batch))) + [len(batch) - 1] * extra) if extra else batch
