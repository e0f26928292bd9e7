"""One GRPO update through the Runtime on 1 and on 2 DeepSpeed learner ranks (gloo): the reported loss is the true
loss, both give the same update, and the update goes the right way; packed, token-budgeted, token-balanced
micro-batches (on ZeRO-3) give the same update as padded row-count ones."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from safetensors.torch import load as load_tensors
from safetensors.torch import load_file

from tests.conftest import tiny_run_config
from tests.test_learner_on_cpu import training_batch

pytestmark = pytest.mark.integration
LR = 1e-3
KL_COEF = 0.1


def full_weights(runtime) -> dict[str, np.ndarray]:
    """The learner's full parameters, as rank 0 serializes them for weight sync."""
    refs = runtime.group("learner").broadcast("weight_buckets", bucket_mb=1024.0, dtype="float32")[0]
    return {name: tensor.numpy() for ref in refs for name, tensor in load_tensors(ray.get(ref)).items()}


# 2 ranks again, with every batching option: 52 + 48 tokens fit the budget, 52 + 53 do not; ZeRO-3 needs every rank
# to run as many forwards, in train and in logprobs, whatever its plan.
PACKED = ["learner.packing=true", "learner.max_tokens_per_micro_batch=100", "learner.balance_ranks=true"]


@pytest.fixture(scope="module")
def updates(ray_cluster, tiny_model_path, tmp_path_factory) -> dict[int | str, dict]:
    """Per rank count (and "packed"): the reported metrics of one GRPO step, log-probs before and after it, and the
    new weights."""
    from actors.runtime import Runtime

    batch = training_batch(tiny_model_path, size=16)  # advantages from -1 to 1, responses of different lengths
    out = {}
    for variant, ranks, extra in [(1, 1, []), (2, 2, []), ("packed", 2, [*PACKED, "learner.zero_stage=3"])]:
        config = tiny_run_config(
            tmp_path_factory.mktemp(f"ranks{variant}"),
            tiny_model_path,
            f"learner.num_workers={ranks}",
            "learner.micro_batch_size=4",
            "learner.num_cpus=0.5",
            f"learner.lr={LR}",
            *extra,
        )
        runtime = Runtime(config, total_optimizer_steps=1, roles=("learner",))
        try:
            before = runtime.group("learner").call("logprobs", batch)["logprobs"]
            # π_old = π_ref = π: the ratio starts at 1 and the KL at 0, so the true loss is known in closed form.
            samples = batch.with_tensors(old_logprobs=before, ref_logprobs=before)
            metrics = runtime.train(samples, "grpo", {"kl_coef": KL_COEF})
            after = runtime.group("learner").call("logprobs", batch)["logprobs"]
            weights = full_weights(runtime)
        finally:
            runtime.shutdown()
        out[variant] = {"metrics": metrics, "before": before, "after": after, "weights": weights}
    return out


def test_reported_loss_is_the_true_loss_for_any_rank_count(updates, tiny_model_path):
    batch = training_batch(tiny_model_path, size=16)
    mask = np.array([[j < len(r) for j in range(max(map(len, batch["response_ids"])))] for r in batch["response_ids"]])
    # token-mean of −A·ρ + β·KL with ρ = 1 and KL = 0: −Σ_i A_i·|y_i| / Σ_i |y_i|
    true_loss = -(batch["advantages"][:, None] * mask).sum() / mask.sum()
    true_neg_logprob = -(updates[1]["before"] * mask).sum() / mask.sum()
    for ranks in (1, 2, "packed"):
        metrics = updates[ranks]["metrics"]
        assert metrics["loss"] == pytest.approx(true_loss, abs=1e-5), ranks
        assert metrics["neg_logprob"] == pytest.approx(true_neg_logprob, rel=1e-5), ranks  # a token mean, not a
        # mean of per-rank means (the ranks hold different numbers of tokens)
        assert metrics["kl_ref"] == pytest.approx(0.0, abs=1e-6) and metrics["clip_fraction"] == 0.0
    for other in (2, "packed"):
        assert updates[other]["metrics"]["grad_norm"] == pytest.approx(updates[1]["metrics"]["grad_norm"], rel=1e-4)


@pytest.mark.parametrize("other", [2, "packed"])
def test_one_and_two_ranks_make_the_same_update(updates, tiny_model_path, other):
    """2 ranks, and 2 ranks with packed, token-budgeted, token-balanced micro-batches on ZeRO-3, against 1 rank."""
    initial = {name: tensor.numpy() for name, tensor in load_file(f"{tiny_model_path}/model.safetensors").items()}
    one, two = updates[1]["weights"], updates[other]["weights"]
    assert set(one) == set(two) == set(initial)
    step_one = np.concatenate([(one[name] - initial[name]).ravel() for name in initial])
    step_two = np.concatenate([(two[name] - initial[name]).ravel() for name in initial])
    assert np.abs(step_one).max() == pytest.approx(LR, rel=0.01)  # Adam's first step: lr·g/(|g|+ε) ≈ ±lr
    # The ranks sum float32 gradients in another order (2 ranks x 2 micro-batches + all-reduce vs 4 micro-batches):
    # ~1e-7 relative. Where |g| ≫ ε = 1e-8 (|step| > 0.9·lr, nearly all weights) Adam's step hardly depends on g,
    # so the steps agree to float32 rounding of the weights (1.6e-7 seen). Where |g| ~ ε the step is lr·g/(|g|+ε)
    # and inherits g's relative error, which near-cancelling sums make larger: lr·1.3e-3 seen, lr·1e-2 allowed.
    clear = np.abs(step_one) > 0.9 * LR
    assert clear.mean() > 0.8
    # Packed rows (other matmul shapes) on ZeRO-3 (a partitioned reduce) sum in yet other orders: 7.2e-7 seen, and
    # the step stays within 1e-6 of the padded one.
    assert np.abs(step_one - step_two)[clear].max() < (5e-7 if other == 2 else 1e-6)
    assert np.abs(step_one - step_two).max() < LR * 1e-2
    np.testing.assert_allclose(updates[other]["after"], updates[1]["after"], atol=1e-5)


@pytest.mark.parametrize("ranks", [1, 2])
def test_grpo_update_raises_positive_and_lowers_negative_advantage_samples(updates, tiny_model_path, ranks):
    advantages = training_batch(tiny_model_path, size=16)["advantages"]
    change = updates[ranks]["after"].sum(axis=1) - updates[ranks]["before"].sum(axis=1)  # Δ log π(y|x) per sample
    assert change[advantages > 0].sum() > 0
    assert change[advantages < 0].sum() < 0
