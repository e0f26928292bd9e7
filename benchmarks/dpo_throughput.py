"""DPO training throughput: rlcore (DeepSpeed learner + reference workers on Ray, driven from here through
`Runtime`) against TRL's `DPOTrainer` in this process, side by side in one run, on the same preference pairs.

    RAY_AUTH_MODE=token PYTHONPATH=. .venv/bin/python benchmarks/dpo_throughput.py [--pairs 512 --batch-pairs 16]

Both sides see identical tokens (rlcore trains on TRL's tokenized prompt/chosen/rejected ids, EOS included), the
same pairs in the same order (TRL: sequential sampler), one optimizer step per batch of `--batch-pairs` pairs in
one micro-batch, the same loss (sigmoid DPO, beta 0.1; `--loss-type ipo|sppo_hard` also works), fp32, torch
AdamW (0.9/0.999, eps 1e-8, no weight decay), constant lr, grad clip 1.0, and the same torch thread count.
TRL runs twice: default (a reference forward every step) and precompute_ref_log_probs=True. rlcore computes the
reference log-probs once on its reference worker; that time is counted in its wall time (as TRL's precompute is).

The machine's cores are shared with other work, so the sides run interleaved, not one after the other: after
each TRL step the next rlcore step runs (lockstep), and each side is timed only over its own turns. Steps 1..K
(`--check-steps`) are the warm-up and the loss check (one rlcore call per step; their per-step losses must agree
with TRL's to 1e-5); throughput is pairs/s over steps K+1..N, charged (N-K)/N of the reference pass where there
is one (the pass covers all N steps' pairs; the JSON also keeps the full pass time).
Engine start-up is excluded everywhere; rlcore's reference worker gets one warm-up call first (TRL's precompute
runs in a process whose torch is already warm). rlcore runs two passes over the pairs: pass 1 beside TRL default,
pass 2 (the same work, a second epoch) beside TRL precompute, with both reference passes run back to back. rlcore
computes each pair's prompt once (`model.share_prompts`, its default; `--no-share-prompts` for padded rows) and
trains in remote calls of `--steps-per-call` optimizer steps (mini_batches), 1 by default, as an algorithm
calling `runtime.train` once per step would. Prints a table and writes one run's result, with the machine, to
benchmarks/results/dpo_throughput/<date>.json (benchmarks/figures.py renders the range over the runs there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # TRL's precompute loop reads this

import numpy as np
import torch
from transformers import TrainerCallback

from benchmarks.machine import describe, result_path

RAY_WORKER_NICENESS = "RAY_worker_niceness"  # Ray reads its config `worker_niceness` from RAY_<name>, as spelled
LOSS_PARAMS = {"sigmoid": {}, "ipo": {"length_normalized": True}, "sppo_hard": {}}  # TRL's IPO is per-token


def make_pairs(num_pairs: int, languages: list[str], seed: int) -> list[dict]:
    """chosen = the correct solution, rejected = the same problem solved with one arithmetic slip."""
    from rlcore.world.tasks import corrupt_solution, generate_problems, render_solution

    rng = random.Random(seed)
    problems = generate_problems("train", -(-num_pairs // len(languages)), languages, seed=seed)[:num_pairs]
    return [
        {"prompt": p.prompt, "chosen": p.solution, "rejected": render_solution(corrupt_solution(p, rng)[0], p.language)}
        for p in problems
    ]


class Lockstep(TrainerCallback):
    """TRL callback: times each TRL step, and after step s runs `hook(s)` (the other side's turn, not timed here).

    A TRL step's time runs from the end of the previous hook to the end of the step, data loading included.
    """

    def __init__(self, hook):
        self.hook, self.durations, self.resume = hook, [], None

    def on_step_begin(self, *_, **__):
        self.resume = self.resume or time.perf_counter()

    def on_step_end(self, args, state, *_, **__):
        self.durations.append(time.perf_counter() - self.resume)
        self.hook(state.global_step)
        self.resume = time.perf_counter()


def build_trl(pairs: list[dict], model_path: str, args, precompute: bool):
    """A DPOTrainer (tokenizes, and with `precompute` computes reference log-probs, in its constructor)."""
    import datasets
    import trl

    from rlcore.modeling import load_causal_lm, load_tokenizer

    class TimedDPOTrainer(trl.DPOTrainer):
        """Records each step's loss and the time of the reference precompute; nothing else changes."""

        def __init__(self, *a, **k):
            self.step_losses: list[float] = []
            self.ref_seconds = 0.0
            super().__init__(*a, **k)

        def _precompute_ref_logps(self, *a, **k):
            start = time.perf_counter()
            out = super()._precompute_ref_logps(*a, **k)
            self.ref_seconds += time.perf_counter() - start
            return out

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.step_losses.append(float((out[0] if return_outputs else out).detach()))
            return out

    datasets.disable_progress_bars()
    config = trl.DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="dpo_bench_trl_"),
        use_cpu=True,
        bf16=False,
        report_to=[],
        loss_type=[args.loss_type],
        beta=args.beta,
        per_device_train_batch_size=args.batch_pairs,
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=args.lr,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=args.grad_clip,
        train_sampling_strategy="sequential",
        seed=args.seed,
        logging_strategy="no",
        save_strategy="no",
        disable_tqdm=True,
        precompute_ref_log_probs=precompute,
        dataloader_num_workers=0,
    )
    return TimedDPOTrainer(
        model=load_causal_lm(model_path, "float32", args.attn),
        args=config,
        train_dataset=datasets.Dataset.from_list(pairs),
        processing_class=load_tokenizer(model_path),
    )


class Rlcore:
    """rlcore's side: a Runtime with the DeepSpeed learner and one reference worker, driven as an algorithm would."""

    def __init__(self, tokenized: list[dict], model_path: str, args, steps: int):
        from actors.runtime import Runtime
        from rlcore.batch import Batch
        from rlcore.config import load_config

        self.args, self.rows_per_step = args, 2 * args.batch_pairs
        cfg = load_config(
            "configs/demo_grpo.yaml",
            [
                f"model.path={model_path}",
                f"model.attn_implementation={args.attn}",
                f"run.seed={args.seed}",
                f"learner.micro_batch_size={self.rows_per_step}",
                f"learner.lr={args.lr}",
                "learner.lr_schedule=constant",
                f"learner.grad_clip={args.grad_clip}",
                "learner.warmup_steps=0",
                "learner.weight_decay=0.0",
                f"reference.micro_batch_size={self.rows_per_step}",
                f"cluster.torch_threads={args.threads}",
                f"model.share_prompts={args.share_prompts}",
            ],
        )
        # Ray starts its workers at nice 15 by default; TRL runs in this nice-0 process. On a machine shared with
        # other work that hands rlcore's actors a fraction of the CPU, so both sides run at the same priority here.
        os.environ.setdefault(RAY_WORKER_NICENESS, "0")
        self.runtime = Runtime(
            cfg, total_optimizer_steps=2 * steps, need_reference=True, roles=("learner", "reference")
        )
        self.rows = [
            {"prompt_ids": list(t["prompt_ids"]), "response_ids": list(t[side])}  # 2i chosen, 2i+1 rejected
            for t in tokenized
            for side in ("chosen_ids", "rejected_ids")
        ]
        self.batch = Batch.from_rows(self.rows)
        self.loss_params = {
            "loss_type": args.loss_type,
            "beta": args.beta,
            "label_smoothing": 0.0,
            "nll_alpha": 0.0,
            **LOSS_PARAMS[args.loss_type],
        }
        self.runtime.reference_logprobs(self.batch.select(np.arange(self.rows_per_step)))  # warm-up, not timed

    def reference(self) -> float:
        """Reference log-probs of every row, summed over the response: the `ref_logps` column. Returns seconds."""
        from rlcore.batch import Batch

        start = time.perf_counter()
        ref = self.runtime.reference_logprobs(self.batch)["ref_logprobs"]
        lengths = np.array([len(r["response_ids"]) for r in self.rows])
        ref_logps = (ref * (np.arange(ref.shape[1])[None] < lengths[:, None])).sum(axis=1).astype(np.float32)
        self.batch = Batch.from_rows(self.rows).with_tensors(ref_logps=ref_logps)
        return time.perf_counter() - start

    def train(self, first: int, count: int) -> tuple[float, float]:
        """Optimizer steps first..first+count-1 (0-based) in one remote call: (mean loss, seconds)."""
        start = time.perf_counter()
        part = self.batch.select(np.arange(first * self.rows_per_step, (first + count) * self.rows_per_step))
        metrics = self.runtime.train(
            part, loss="dpo", loss_params=self.loss_params, aggregation="pair-mean", mini_batches=count
        )
        return metrics["loss"], time.perf_counter() - start

    def lockstep_hook(self, steps: int, log: list):
        """After TRL's step s (s >= K), train rlcore's steps s+1.. (steps_per_call of them every steps_per_call)."""
        K, per_call = self.args.check_steps, self.args.steps_per_call

        def hook(done: int) -> None:
            if K <= done < steps and (done - K) % per_call == 0:
                count = min(per_call, steps - done)
                log.append((done, count, *self.train(done, count)))

        return hook

    def shutdown(self) -> None:
        import ray

        self.runtime.shutdown()
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--batch-pairs", type=int, default=16, help="pairs per optimizer step (one micro-batch)")
    parser.add_argument("--languages", default="en,fr")
    parser.add_argument("--loss-type", default="sigmoid", choices=sorted(LOSS_PARAMS))
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--check-steps", type=int, default=8, help="warm-up steps whose losses are compared")
    parser.add_argument("--steps-per-call", type=int, default=1, help="rlcore optimizer steps per remote call")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads on each side (1: robust when the "
        "cores are shared; 2 OpenMP threads on a loaded 2-core machine ran 5x slower)",
    )
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument(
        "--share-prompts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rlcore computes a pair's prompt once (model.share_prompts, its default); --no-share-prompts: padded rows",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/dpo_throughput/<date>.json")
    args = parser.parse_args()
    if args.pairs % args.batch_pairs:
        parser.error("--pairs must be a multiple of --batch-pairs")
    steps, K = args.pairs // args.batch_pairs, args.check_steps
    if not 1 <= K < steps:
        parser.error(f"--check-steps must be in [1, {steps - 1}]")

    from rlcore.world.tiny_model import tiny_model_path

    load_start = os.getloadavg()[0]
    model_path = str(tiny_model_path())
    torch.set_num_threads(args.threads)  # TRL runs here; rlcore's actors get cluster.torch_threads = the same
    pairs = make_pairs(args.pairs, args.languages.split(","), args.seed)
    trl_default = build_trl(pairs, model_path, args, precompute=False)
    tokenized = [
        {k: trl_default.train_dataset[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")}
        for i in range(len(pairs))
    ]
    ours = Rlcore(tokenized, model_path, args, steps)
    trainers, clocks, ours_ref, ours_calls = {"trl": trl_default}, {}, {}, {"trl": [], "trl_precompute": []}
    try:
        # Pass 1 (against TRL default): reference pass, steps 1..K one call each (the loss check), then K+1..N
        # in lockstep with TRL's steps K+1..N.
        ours_ref["trl"] = ours.reference()
        check_losses = [ours.train(step, 1)[0] for step in range(K)]
        clocks["trl"] = Lockstep(ours.lockstep_hook(steps, ours_calls["trl"]))
        trl_default.add_callback(clocks["trl"])
        trl_default.train()
        # Pass 2 (against TRL precompute): both reference passes back to back, rlcore's warm-up steps 1..K (a
        # second epoch on the same pairs: the same work), then K+1..N in lockstep again.
        trainers["trl_precompute"] = build_trl(pairs, model_path, args, precompute=True)
        ours_ref["trl_precompute"] = ours.reference()
        for step in range(K):
            ours.train(step, 1)
        clocks["trl_precompute"] = Lockstep(ours.lockstep_hook(steps, ours_calls["trl_precompute"]))
        trainers["trl_precompute"].add_callback(clocks["trl_precompute"])
        trainers["trl_precompute"].train()
    finally:
        ours.shutdown()

    timed_pairs = (steps - K) * args.batch_pairs
    report = {"pairs_per_s": {}, "seconds": {}, "ratio": {}, "loss_max_abs_diff": {}}
    for name, trainer in trainers.items():
        assert len(trainer.step_losses) == steps, f"{name}: {len(trainer.step_losses)} losses for {steps} steps"
        # A reference pass covers all N steps' pairs; the timed window K+1..N is charged its share of it.
        share = (steps - K) / steps
        trl_s = {
            "train": sum(clocks[name].durations[K:]),
            "reference": trainer.ref_seconds * share,
            "reference_full_pass": trainer.ref_seconds,
        }
        our_s = {
            "train": sum(call[3] for call in ours_calls[name]),
            "reference": ours_ref[name] * share,
            "reference_full_pass": ours_ref[name],
        }
        report["seconds"][name], report["seconds"][f"rlcore_vs_{name}"] = trl_s, our_s
        rate = {side: timed_pairs / (sec["train"] + sec["reference"]) for side, sec in ((name, trl_s), ("ours", our_s))}
        report["pairs_per_s"][name], report["pairs_per_s"][f"rlcore_vs_{name}"] = rate[name], rate["ours"]
        report["ratio"][f"rlcore_over_{name}"] = rate["ours"] / rate[name]
        report["loss_max_abs_diff"][name] = {
            f"steps_1_{K}": float(np.max(np.abs(np.subtract(check_losses, trainer.step_losses[:K])))),
            # later steps: rlcore's per-call mean loss (pass 1) against TRL's mean over the same steps
            "later_calls": float(
                max(
                    abs(loss - np.mean(trainer.step_losses[first : first + count]))
                    for first, count, loss, _ in ours_calls["trl"]
                )
            ),
        }
    token_counts = {side: [len(t[f"{side}_ids"]) for t in tokenized] for side in ("prompt", "chosen", "rejected")}
    report["setup"] = vars(args) | {
        "model_path": model_path,
        "optimizer_steps": steps,
        "timed_steps": f"{K + 1}..{steps}",
        "timed_pairs": timed_pairs,
        "rlcore_remote_calls_timed_per_pass": len(ours_calls["trl"]),
        "rlcore_startup_seconds_excluded": ours.runtime.startup_seconds,
        "tokens": {side: {"mean": float(np.mean(v)), "max": int(np.max(v))} for side, v in token_counts.items()},
        "torch_threads_each_side": args.threads,
        "load_average_start_end": [load_start, os.getloadavg()[0]],
        "niceness": {
            "ray_worker_niceness": os.environ.get(RAY_WORKER_NICENESS),
            "driver_niceness": os.nice(0),
        },
    }
    report["machine"] = describe()
    report["losses"] = {"rlcore_steps_1_K": check_losses, **{n: t.step_losses for n, t in trainers.items()}}
    args.out = args.out or str(result_path("dpo_throughput"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))

    print(
        f"\nDPO throughput: {args.pairs} pairs, {args.batch_pairs} pairs/step, {steps} steps (timed {K + 1}..{steps}"
        f" in lockstep), {args.loss_type}, fp32, {args.threads} torch thread(s) each side, {os.cpu_count()} cores"
    )
    print(f"{'side':<26}{'pairs/s':>9}{'train s':>9}{'ref s*':>8}{'ratio':>7}{'max |dloss| 1..K':>18}")
    for name in trainers:
        for side in (f"rlcore_vs_{name}", name):
            sec = report["seconds"][side]
            extra = (
                f"{report['ratio'][f'rlcore_over_{name}']:>7.2f}{'':>18}"
                if side.startswith("rlcore")
                else f"{'':>7}{report['loss_max_abs_diff'][name][f'steps_1_{K}']:>18.2e}"
            )
            print(f"{side:<26}{report['pairs_per_s'][side]:>9.1f}{sec['train']:>9.2f}{sec['reference']:>8.2f}{extra}")
    print(f"* the timed steps' share of the reference pass. tokens: {report['setup']['tokens']} -> {args.out}")
    worst = max(d[f"steps_1_{K}"] for d in report["loss_max_abs_diff"].values())
    assert worst <= args.tolerance, f"per-step losses differ by {worst:.3e} > {args.tolerance}"


if __name__ == "__main__":
    main()
