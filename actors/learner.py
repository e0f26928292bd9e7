"""LearnerWorker: one data-parallel rank of a DeepSpeed engine (ZeRO 0-3, fp32/bf16, gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import datetime
import math
import os
import socket
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import ray
import torch

from actors.learner_batches import policy_logprobs, train_micro_batches
from rlcore.batch import Batch
from rlcore.cluster import Worker
from rlcore.config import LearnerSection, ModelSection
from rlcore.losses import LOSSES, Aggregation, aggregate, normalizer
from rlcore.modeling import (
    collate,
    load_causal_lm,
    response_logprobs_and_entropy,
    response_mask_of,
    torch_device,
)
from rlcore.ray_setup import interface_of
from rlcore.safe_state import load_state, rng_state, save_state, set_rng_state
from rlcore.weight_ipc import IpcSource
from rlcore.weight_sync import WeightBucketer
from rlcore.weight_transport import WeightSender, open_listen_socket

if TYPE_CHECKING:
    from deepspeed import DeepSpeedEngine

TRAINING_STATE_DIR = "training_state"
STORE_TIMEOUT = datetime.timedelta(minutes=30)  # torch.distributed's default for a process group


def deepspeed_config(cfg: LearnerSection, on_gpu: bool) -> dict[str, Any]:
    zero: dict[str, Any] = {"stage": cfg.zero_stage}
    if cfg.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu}
    config: dict[str, Any] = {
        # Accumulation is driven by the learner (set_gradient_accumulation_boundary), so mini-batches may vary.
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": 1,
        "zero_optimization": zero,
        "bf16": {"enabled": cfg.dtype == "bfloat16"},
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": cfg.lr, "betas": list(cfg.betas), "eps": 1e-8, "weight_decay": cfg.weight_decay},
            # torch's AdamW needs no JIT build; offload needs DeepSpeed's CPU Adam.
            "torch_adam": not cfg.offload_optimizer,
        },
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if cfg.grad_clip > 0:
        config["gradient_clipping"] = cfg.grad_clip
    return config


def lr_lambda(cfg: LearnerSection, total_steps: int):
    """Linear warm-up, then constant, cosine or linear decay to 0 over `total_steps` optimizer steps."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.lr_schedule == "linear":
            return 1.0 - progress
        return 1.0

    return factor


class LearnerWorker(IpcSource, WeightSender, Worker):  # the ipc and collective weight transports' source
    remote_methods = (
        "free_port",
        "init_engine",
        "logprobs",
        "train",
        "weight_buckets",
        "save_checkpoint",
        "load_training_state",
        "offload_states",
    )

    def __init__(
        self,
        rank: int,
        world_size: int,
        model_path: str,
        learner: dict,
        model: dict,
        seed: int,
        total_optimizer_steps: int,
    ):
        super().__init__(rank, world_size)
        self.cfg = LearnerSection(**learner)
        self.model_cfg = ModelSection(**model)
        self.model_path = model_path
        self.seed = seed
        self.total_optimizer_steps = total_optimizer_steps
        self._engine: DeepSpeedEngine | None = None
        self._store_socket: socket.socket | None = None
        self.offloaded = False  # learner.offload_during_generation: the optimizer's GPU state is in CPU memory

    @property
    def engine(self) -> DeepSpeedEngine:
        if self._engine is None:
            raise RuntimeError(f"learner[{self.rank}]: init_engine has not run yet")
        return self._engine

    def free_port(self) -> tuple[str, int]:
        """Open the torch.distributed store's listening socket on this node's address only (127.0.0.1 on a local
        cluster) and hold it until init_engine serves the store on it, so no other process takes the port between."""
        address = self.node_address()
        self._store_socket = open_listen_socket(address)
        return address, self._store_socket.getsockname()[1]

    def init_engine(self, master_addr: str, master_port: int) -> dict[str, Any]:
        """Join the torch.distributed world and build the DeepSpeed engine (all ranks call this together)."""
        import deepspeed

        on_gpu = torch.cuda.is_available()
        os.environ.update(
            MASTER_ADDR=master_addr,
            MASTER_PORT=str(master_port),
            RANK=str(self.rank),
            WORLD_SIZE=str(self.world_size),
            LOCAL_RANK="0",
        )
        backend = self.cfg.backend if self.cfg.backend != "auto" else ("nccl" if on_gpu else "gloo")
        interface = interface_of(master_addr)  # the collectives' own sockets go where the store is, not elsewhere
        if interface:
            for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
                os.environ.setdefault(variable, interface)
        # torch's env:// rendezvous would serve the store on every interface; this one serves it on free_port's
        # socket. DeepSpeed then adopts the initialised process group.
        torch.distributed.init_process_group(
            backend,
            store=self._rendezvous(master_addr, master_port),
            rank=self.rank,
            world_size=self.world_size,
            # as DeepSpeed would: bind the GPU for nccl, except for one rank (nothing to split a communicator for)
            device_id=torch.device("cuda", torch.cuda.current_device()) if on_gpu and self.world_size > 1 else None,
        )
        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        ds_config = deepspeed_config(self.cfg, on_gpu)
        if self.cfg.zero_stage == 3:
            # Keeps a reference alive so from_pretrained loads each rank's partition only (ZeRO-3 init).
            from transformers.integrations import HfDeepSpeedConfig

            self._hf_ds_config = HfDeepSpeedConfig(ds_config)
        model = load_causal_lm(
            self.model_path, "float32", self.model_cfg.attn_implementation, self.model_cfg.trust_remote_code
        )
        if self.cfg.gradient_checkpointing:
            from transformers import PreTrainedModel

            if not isinstance(model, PreTrainedModel):
                raise TypeError(f"gradient checkpointing needs a transformers model, got {type(model).__name__}")
            model.gradient_checkpointing_enable()
        self._engine, _, _, self.scheduler = deepspeed.initialize(
            model=model,
            model_parameters=[p for p in model.parameters() if p.requires_grad],
            config=ds_config,
            lr_scheduler=lambda optimizer: torch.optim.lr_scheduler.LambdaLR(
                optimizer, lr_lambda(self.cfg, self.total_optimizer_steps)
            ),
        )
        self.device = torch_device()
        self.bucketer = WeightBucketer(self.engine.module, zero3=self.cfg.zero_stage == 3, rank=self.rank)
        return {
            "backend": backend,
            "parameters": sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for p in model.parameters()),
        }

    def _rendezvous(self, master_addr: str, master_port: int) -> torch.distributed.TCPStore:
        """Rank 0 serves the store on the socket free_port opened (the store takes it over); the others join it."""
        serving = self.rank == 0
        listen_fd = None
        if serving:
            if self._store_socket is None:
                raise RuntimeError("learner[0]: init_engine needs free_port first (it opens the store's socket)")
            listen_fd, self._store_socket = self._store_socket.detach(), None
        return torch.distributed.TCPStore(
            master_addr, master_port, self.world_size, serving, timeout=STORE_TIMEOUT, master_listen_fd=listen_fd
        )

    # ---- forward passes ---------------------------------------------------------------------------------------
    def logprobs(self, batch: Batch, temperature: float = 1.0) -> Batch:
        """Current-policy response log-probabilities, as tensor `logprobs` [B, R]."""
        self.engine.eval()
        values = policy_logprobs(self.engine, batch, self.cfg, temperature, self.device, self.model_cfg.prompts_shared)
        return Batch(tensors={"logprobs": values})

    def train(
        self,
        batch: Batch,
        loss: str,
        loss_params: dict[str, Any],
        aggregation: Aggregation = "token-mean",
        mini_batches: int = 1,
        epochs: int = 1,
        temperature: float = 1.0,
    ) -> dict[str, float]:
        """`epochs` passes over this rank's shard, one optimizer step per mini-batch."""
        import torch.distributed as dist

        loss_fn = LOSSES.get(loss)
        rows_per_unit = 2 if aggregation == "pair-mean" else 1
        if rows_per_unit == 2 and self.cfg.max_tokens_per_micro_batch is None and self.cfg.micro_batch_size % 2:
            raise ValueError(
                f"pair losses need an even learner.micro_batch_size (a pair's two rows train together); "
                f"got {self.cfg.micro_batch_size}"
            )
        self._resident()
        self.engine.train()
        totals: dict[str, float] = defaultdict(float)  # sums over this rank's tokens/rows; weights: their counts
        weights: dict[str, float] = defaultdict(float)
        loss_sum, grad_norms, steps = 0.0, [], 0
        for _ in range(epochs):
            for mini in batch.split(mini_batches):
                micros, real = train_micro_batches(mini, self.cfg, rows_per_unit, self.device)
                share = self.model_cfg.prompts_shared
                inputs_list = [collate(micro, self.device, self.cfg.packing, share) for micro in micros]
                masks = [
                    response_mask_of(inputs, _width(micro)) for inputs, micro in zip(inputs_list, micros, strict=True)
                ]
                # On the engine's device: an nccl group reduces CUDA tensors only.
                local = sum(
                    (normalizer(mask, aggregation).to(self.device) for mask in masks[:real]),
                    torch.zeros((), device=self.device),
                )
                dist.all_reduce(local)  # the mean is over the whole mini-batch, across ranks and micro-batches
                mini_batch_total = local.clamp(min=1).item()
                for index, (micro, inputs, mask) in enumerate(zip(micros, inputs_list, masks, strict=True)):
                    self.engine.set_gradient_accumulation_boundary(index == len(micros) - 1)
                    width = _width(micro)
                    logp, entropy = response_logprobs_and_entropy(self.engine, inputs, width, temperature)
                    tensors = _tensors(micro, width, self.device)
                    loss_values, token_metrics = loss_fn(logp, mask, tensors, **loss_params)
                    micro_loss = aggregate(loss_values, mask, aggregation) / mini_batch_total
                    if index >= real:  # a stand-in forward (see train_micro_batches): no gradient, no metrics
                        self.engine.backward(micro_loss * 0.0, scale_wrt_gas=False)
                        continue
                    # DeepSpeed averages gradients over ranks; × world size makes that the sum the mean needs.
                    self.engine.backward(micro_loss * self.world_size, scale_wrt_gas=False)
                    loss_sum += micro_loss.item()  # this rank's share of the mini-batch loss
                    tokens = mask.sum().item()
                    for name, value in token_metrics.items():
                        if value.ndim == 2:  # per token
                            totals[name] += (value * mask).sum().item()
                            weights[name] += tokens
                        else:  # per sequence or per pair
                            totals[name] += value.sum().item()
                            weights[name] += value.numel()
                    totals["neg_logprob"] += -(logp.detach() * mask).sum().item()
                    weights["neg_logprob"] += tokens
                    if entropy is not None:  # of the policy's next-token distribution, per response token
                        totals["entropy"] += entropy.sum().item()
                        weights["entropy"] += tokens
                    # vLLM's processed log-probs vs ours, both at the sampling temperature (top-p/top-k < 1 also
                    # renormalise vLLM's); a gap beyond float noise on the first mini-batch means the weights differ.
                    if "rollout_logprobs" in tensors:
                        totals["rollout_logprob_gap"] += (
                            ((logp.detach() - tensors["rollout_logprobs"]).abs() * mask).sum().item()
                        )
                        weights["rollout_logprob_gap"] += tokens
                unclipped = self._grad_norm_before_step()
                self.engine.step()
                steps += 1
                norm = self.engine.get_global_grad_norm()
                norm = unclipped if norm is None else norm
                if norm is not None:
                    grad_norms.append(float(norm))
        # Summed over ranks, the shares make each mini-batch's loss; each rank counts 1/W of every step.
        totals["loss"], weights["loss"] = loss_sum, steps / self.world_size
        metrics = _reduce_over_ranks(totals, weights, self.device)
        metrics["grad_norm"] = float(np.mean(grad_norms)) if grad_norms else float("nan")
        metrics["lr"] = float(self.scheduler.get_last_lr()[0])
        metrics["optimizer_steps"] = float(steps)
        return metrics

    def _grad_norm_before_step(self) -> float | None:
        """ZeRO-0 leaves no norm in the engine; its gradients are whole (and all-reduced) before step()."""
        if self.cfg.zero_stage != 0:
            return None
        grads = [p.grad for p in self.engine.module.parameters() if p.grad is not None]
        return (
            float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
            if grads
            else None
        )

    # ---- GPU memory shared with colocated engines (learner.offload_during_generation; GPUs only) ---------------
    def offload_states(self) -> None:
        """Move the optimizer's GPU state to CPU memory while the colocated engines generate. The 16-bit weights stay:
        log-probs and the weight sync read them, so only an update (or a checkpoint of it) calls `_resident` first."""
        from deepspeed.runtime.zero.offload_config import OffloadDeviceEnum, OffloadStateTypeEnum

        if self.offloaded:
            return
        kept = {OffloadStateTypeEnum.lp_params}
        states = [state for state in OffloadStateTypeEnum if state not in kept]
        self.engine.offload_states(include=states, device=OffloadDeviceEnum.cpu, pin_memory=True)
        self.offloaded = True

    def _resident(self) -> None:
        """Bring offloaded optimizer state back to the GPU before it is used."""
        if self.offloaded:
            self.engine.reload_states()
            self.offloaded = False

    # ---- weights and checkpoints ------------------------------------------------------------------------------
    def weight_buckets(self, bucket_mb: float, dtype: str) -> list[ray.ObjectRef]:
        """Full weights in size-bounded serialized buckets, put in the object store by rank 0 (all ranks join)."""
        return [ray.put(payload) for payload in self.bucketer.buckets(int(bucket_mb * 2**20), dtype)]

    def save_checkpoint(self, directory: str, tokenizer_path: str, save_optimizer: bool = True) -> None:
        """HF-format policy (rank 0) plus this rank's optimizer, scheduler and RNG state, all without pickle."""
        path = Path(directory)
        self._resident()  # the optimizer state is saved from where it trains
        state_dict = self.bucketer.full_state_dict()
        if self.rank == 0:
            from transformers import AutoTokenizer

            path.mkdir(parents=True, exist_ok=True)
            self.engine.module.save_pretrained(path, state_dict=state_dict, safe_serialization=True)
            AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(path)
        if save_optimizer:
            # Beside, not inside, the model files: vLLM and transformers load every *.safetensors of the folder.
            (path / TRAINING_STATE_DIR).mkdir(parents=True, exist_ok=True)
            save_state(
                path / TRAINING_STATE_DIR / f"learner_rank{self.rank}",
                {
                    "optimizer": self._optimizer_state(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng_state(),
                    "world_size": self.world_size,
                    "zero_stage": self.cfg.zero_stage,
                },
            )

    def load_training_state(self, directory: str) -> bool:
        """Restore optimizer, scheduler and RNG written by save_checkpoint; False if the checkpoint has none."""
        path = Path(directory) / TRAINING_STATE_DIR / f"learner_rank{self.rank}"
        if not path.with_suffix(".json").exists():
            return False
        state = load_state(path)
        self._resident()
        if state["world_size"] != self.world_size or state["zero_stage"] != self.cfg.zero_stage:
            raise ValueError(
                f"{directory} was saved with {state['world_size']} learner ranks and ZeRO-"
                f"{state['zero_stage']}; this run has {self.world_size} and ZeRO-{self.cfg.zero_stage}"
            )
        self._load_optimizer_state(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        return True

    def _optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state dict, minus what only objects can hold: ZeRO optimizers add their loss-scaler
        object (restored from the live engine on load), a stage enum (stored as its value) and, in ZeRO-1/2,
        parameter-slice mappings that only universal-checkpoint tools read."""
        state = self.engine.optimizer.state_dict()
        if self.cfg.zero_stage == 0:
            return state
        from deepspeed.checkpoint.constants import LOSS_SCALER, PARAM_SLICE_MAPPINGS, ZERO_STAGE

        state = {key: value for key, value in state.items() if key not in (LOSS_SCALER, PARAM_SLICE_MAPPINGS)}
        state[ZERO_STAGE] = int(state[ZERO_STAGE])
        return state

    def _load_optimizer_state(self, state: dict[str, Any]) -> None:
        if self.cfg.zero_stage == 0:
            self.engine.optimizer.load_state_dict(state)
            return
        from deepspeed.checkpoint.constants import LOSS_SCALER, ZERO_STAGE
        from deepspeed.runtime.zero.config import ZeroStageEnum

        state = {**state, ZERO_STAGE: ZeroStageEnum(state[ZERO_STAGE]), LOSS_SCALER: self.engine.optimizer.loss_scaler}
        # ZeRO optimizers take one state dict per rank and read their own: ours, at every index.
        self.engine.optimizer.load_state_dict([state] * self.world_size, load_from_fp32_weights=True)


def _reduce_over_ranks(totals: dict[str, float], weights: dict[str, float], device: torch.device) -> dict[str, float]:
    """Each metric's sum over all ranks divided by its count over all ranks: the whole batch's value, on every
    rank, whatever the number of ranks (every rank has the same metric names: same loss, same batch columns)."""
    import torch.distributed as dist

    names = sorted(totals)
    sums = torch.tensor([[totals[name], weights[name]] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    return {name: total / max(count, 1e-9) for name, (total, count) in zip(names, sums.tolist(), strict=True)}


def _width(batch: Batch) -> int:
    return max((len(r) for r in batch["response_ids"]), default=0)


def _tensors(batch: Batch, width: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The batch's numeric tensors on the device; per-token ones cut to this micro-batch's response width."""
    out = {}
    for key, value in batch.tensors.items():
        tensor = torch.as_tensor(value, device=device)
        if tensor.ndim == 2:
            tensor = tensor[:, :width]
        out[key] = tensor.float() if tensor.is_floating_point() else tensor
    return out
