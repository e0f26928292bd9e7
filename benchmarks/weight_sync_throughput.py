"""Weight-sync throughput (P4): learner -> vLLM bytes/s of the object-store, collective and ipc transports against a
local safetensors save + load of the same tensors, for the demo model and a ~400 MB random-init Qwen2-style model.

    PYTHONPATH=. .venv/bin/python benchmarks/weight_sync_throughput.py [--reps 3 --bucket-mb 64 --large-mb 400]

Each round times, in this order, a local save + load (the driver writes the learner's tensors with safetensors to a
temporary file and reads them back), an object-store sync, a collective sync and an ipc sync (/dev/shm) through the
real worker groups (one DeepSpeed learner rank, one vLLM engine), and the collective transport alone (the same
broadcast, received by the engine's worker and dropped instead of loaded: what vLLM's in-place reload adds is the
difference). The first
round warms the engine up and builds the weight group; it is not counted. Acceptance: collective >= 0.5 of local
save + load bytes/s on the ~400 MB model. Writes benchmarks/results/weight_sync/<date>.json with the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import ray
from safetensors.torch import load, load_file, save_file

from actors.runtime import Runtime
from benchmarks.machine import describe, result_path
from rlcore.config import load_config
from rlcore.modeling import BUILTIN_MODEL, resolve_model_path
from rlcore.weight_sync import IpcSync, sync_weights

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("local_save_load", "object_store", "collective", "ipc", "collective_transport_only")


def build_large_model(directory: Path, target_mb: float) -> str:
    """A random-init Qwen2-style model of about `target_mb` MB (float32) with the demo model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(BUILTIN_MODEL))
    hidden, intermediate = 1024, 2816  # 16 heads of 64 (a head size the CPU attention kernels support)
    per_layer = 4 * hidden * hidden + 3 * hidden * intermediate + 3 * hidden  # attention (with qkv bias) + MLP
    layers = max(1, round(target_mb * 2**20 / 4 / per_layer))
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return str(directory)


def local_save_load(runtime: Runtime, dtype: str) -> tuple[int, float]:
    """Bytes and seconds of a safetensors save + load of the learner's tensors (fetched once, outside the timing)."""
    refs = runtime.group("learner").broadcast("weight_buckets", bucket_mb=1e6, dtype=dtype)[0]  # one bucket
    tensors = {name: tensor for blob in ray.get(refs) for name, tensor in load(blob).items()}
    nbytes = sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())
    with tempfile.TemporaryDirectory() as scratch:
        path = str(Path(scratch) / "weights.safetensors")
        start = time.perf_counter()
        save_file(tensors, path)
        loaded = load_file(path)
        seconds = time.perf_counter() - start
    assert loaded.keys() == tensors.keys()
    return nbytes, seconds


def transport_only(runtime: Runtime, bucket_mb: float, dtype: str) -> float:
    """Seconds of a collective sync whose buckets the engine receives but does not load."""
    learner, rollout = runtime.group("learner"), runtime.group("rollout")
    start = time.perf_counter()
    plan = learner.broadcast("weight_plan", bucket_mb=bucket_mb, dtype=dtype)[0]
    senders = [actor.send_weights.remote(bucket_mb=bucket_mb, dtype=dtype) for actor in learner.actors]
    receivers = [actor.__ray_call__.remote(_receive_without_loading, plan) for actor in rollout.actors]
    learner.wait(["send_weights"] * len(senders), senders)
    rollout.wait(["receive_weights"] * len(receivers), receivers)
    return time.perf_counter() - start


def _receive_without_loading(worker, plan) -> int:  # runs in the rollout actor
    return worker.llm.collective_rpc("rlcore_receive_weights", args=(plan, False))[0]


def measure(model_path: str, args: argparse.Namespace) -> dict:
    config = load_config(
        ROOT / "configs" / "demo_grpo.yaml",
        [
            f"model.path={model_path}",
            f"weight_sync.bucket_mb={args.bucket_mb}",
            "weight_sync.transport=collective",
            "learner.num_workers=1",
            "rollout.max_model_len=256",
            "cluster.call_timeout_s=900",
        ],
    )
    runtime = Runtime(config, total_optimizer_steps=1, roles=("rollout", "learner"))
    learner, rollout = runtime.group("learner"), runtime.group("rollout")
    assert runtime.collective is not None
    ipc = IpcSync()
    rates: dict[str, list[float]] = {method: [] for method in METHODS}
    nbytes = 0
    build_seconds = None
    try:
        for rep in range(args.reps + 1):  # round 0: warm-up (and the weight group's build), not counted
            nbytes, seconds = local_save_load(runtime, config.model.dtype)
            timed = {"local_save_load": seconds}
            stats = sync_weights(learner, rollout, args.bucket_mb, config.model.dtype, rep + 1)
            timed["object_store"] = stats.seconds
            del stats  # drops the buckets from the object store
            stats = runtime.collective.sync(learner, rollout, args.bucket_mb, config.model.dtype, rep + 1)
            timed["collective"] = stats.seconds
            moved = {"collective": stats.bytes}
            stats = ipc.sync(learner, rollout, args.bucket_mb, config.model.dtype, rep + 1)
            timed["ipc"], moved["ipc"] = stats.seconds, stats.bytes
            timed["collective_transport_only"] = transport_only(runtime, args.bucket_mb, config.model.dtype)
            for method, moved_bytes in moved.items():
                if moved_bytes < nbytes:
                    raise RuntimeError(f"the {method} sync moved {moved_bytes} bytes of {nbytes}")
            if rep == 0:
                build_seconds = stats.seconds
                continue
            for method, value in timed.items():
                rates[method].append(nbytes / value)
            print(
                f"  round {rep}: "
                + ", ".join(f"{method} {nbytes / value / 1e6:,.0f} MB/s" for method, value in timed.items())
            )
    finally:
        runtime.shutdown()
    medians = {method: statistics.median(values) for method, values in rates.items()}
    return {
        "model_path": model_path,
        "megabytes": nbytes / 1e6,
        "bytes_per_s_median": medians,
        "bytes_per_s_range": {method: [min(values), max(values)] for method, values in rates.items()},
        "rounds_bytes_per_s": rates,
        "first_collective_sync_seconds_with_group_build": build_seconds,
        "ratio_collective_over_local": medians["collective"] / medians["local_save_load"],
        "ratio_object_store_over_local": medians["object_store"] / medians["local_save_load"],
        "ratio_ipc_over_local": medians["ipc"] / medians["local_save_load"],
        "ratio_transport_only_over_local": medians["collective_transport_only"] / medians["local_save_load"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bucket-mb", type=float, default=64.0)
    parser.add_argument("--large-mb", type=float, default=400.0, help="size of the random-init model, in MiB")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/weight_sync/<date>.json")
    args = parser.parse_args()

    machine = describe()  # the load before this run adds its own
    scratch = Path(tempfile.mkdtemp(prefix="rlcore-weight-sync-"))
    models = {} if args.skip_demo else {"demo": resolve_model_path(BUILTIN_MODEL)}
    results = {}
    try:
        models["large"] = build_large_model(scratch / "large", args.large_mb)
        for name, path in models.items():
            print(f"{name}: {path}")
            results[name] = measure(path, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = Path(args.out or result_path("weight_sync"))
    report = {"machine": machine, "setup": vars(args), "models": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for name, result in results.items():
        medians = {method: value / 1e6 for method, value in result["bytes_per_s_median"].items()}
        print(
            f"{name} ({result['megabytes']:.0f} MB), median MB/s: "
            + ", ".join(f"{method} {value:,.0f}" for method, value in medians.items())
            + f"; collective / local save+load {result['ratio_collective_over_local']:.2f} (target >= 0.5), ipc "
            f"{result['ratio_ipc_over_local']:.2f}"
        )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
