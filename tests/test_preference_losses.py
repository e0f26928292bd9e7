"""DPO-family losses against hand-computed values and against TRL's DPOTrainer on the same model and pairs."""

import math

import numpy as np
import pytest
import torch

from rlcore.batch import Batch
from rlcore.losses import LOSSES, aggregate, normalizer
from rlcore.preference_losses import PREFERENCE_LOSSES, preference_loss

# Two pairs: h_w = logπ(y_w) − logπ_ref(y_w), h_l likewise.
CHOSEN, REJECTED = torch.tensor([-4.0, -10.0]), torch.tensor([-6.0, -9.0])
REF_CHOSEN, REF_REJECTED = torch.tensor([-5.0, -10.5]), torch.tensor([-5.5, -9.5])
H_W, H_L = [1.0, 0.5], [-0.5, 0.5]


def _logsigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_sigmoid_dpo_by_hand_with_label_smoothing():
    beta, eps = 0.5, 0.1
    loss = preference_loss(
        CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="sigmoid", beta=beta, label_smoothing=eps
    )
    expected = [
        -(1 - eps) * _logsigmoid(beta * (w - lo)) - eps * _logsigmoid(-beta * (w - lo))
        for w, lo in zip(H_W, H_L, strict=True)
    ]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
    assert loss[1].item() == pytest.approx(math.log(2))  # Δ = 0: no preference yet


def test_ipo_and_sppo_hard_by_hand():
    beta = 0.25  # 1/(2β) = 2
    ipo = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="ipo", beta=beta)
    np.testing.assert_allclose(ipo.numpy(), [(1.5 - 2) ** 2, (0 - 2) ** 2], rtol=1e-6)
    sppo = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="sppo_hard", beta=beta)
    np.testing.assert_allclose(
        sppo.numpy(), [(1 - 2) ** 2 + (-0.5 + 2) ** 2, (0.5 - 2) ** 2 + (0.5 + 2) ** 2], rtol=1e-6
    )


def test_nll_term_is_length_normalised():
    lengths = torch.tensor([4.0, 5.0])
    base = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=0.1)
    with_nll = preference_loss(
        CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=0.1, nll_alpha=0.5, chosen_lengths=lengths
    )
    np.testing.assert_allclose((with_nll - base).numpy(), [0.5 * 4 / 4, 0.5 * 10 / 5], rtol=1e-6)
    with pytest.raises(KeyError, match="did you mean"):
        preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="sigmod")


def test_dpo_registry_loss_rows_alternate_and_pair_mean_aggregates():
    # Two pairs, token log-probs whose row sums are CHOSEN/REJECTED interleaved; padding must not count.
    logprobs = torch.tensor(
        [[-2.0, -2.0, 0.0], [-3.0, -3.0, 7.0], [-5.0, -5.0, 0.0], [-4.0, -5.0, 0.0]], requires_grad=True
    )
    mask = torch.tensor([[1.0, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]])
    ref = torch.stack([REF_CHOSEN, REF_REJECTED], dim=1).reshape(-1)
    values, metrics = LOSSES.get("dpo")(logprobs, mask, {"ref_logps": ref}, loss_type="sigmoid", beta=0.5)
    mean = aggregate(values, mask, "pair-mean") / normalizer(mask, "pair-mean")
    expected = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=0.5).mean()
    assert mean.item() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(metrics["rewards/margin"].numpy(), [0.5 * 1.5, 0.0], atol=1e-6)
    assert metrics["rewards/accuracy"].tolist() == [1.0, 0.0]
    mean.backward()
    assert logprobs.grad[1, 2] == 0  # the padded position gets no gradient
    assert set(PREFERENCE_LOSSES.names()) >= {"sigmoid", "ipo", "sppo_hard"}


@pytest.mark.parametrize(
    "loss_type,ours",
    [
        ("sigmoid", {"loss_type": "sigmoid"}),
        ("ipo", {"loss_type": "ipo", "length_normalized": True}),  # TRL's IPO averages h over response tokens
        ("sppo_hard", {"loss_type": "sppo_hard"}),
    ],
)
def test_matches_trl_dpo_trainer_on_the_same_model_and_pairs(tiny_model_path, tmp_path, loss_type, ours):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from rlcore.modeling import collate_sequences, load_causal_lm, load_tokenizer, response_logprobs
    from rlcore.world.tasks import generate_problems, to_records

    rows = to_records(generate_problems("train", 3, ["en", "fr"], seed=5))
    pairs = [{"prompt": r["prompt"], "chosen": r["solution"], "rejected": "The answer is 0."} for r in rows]
    model = load_causal_lm(tiny_model_path, "float32", "eager")
    args = trl.DPOConfig(
        output_dir=str(tmp_path),
        loss_type=[loss_type],
        beta=0.2,
        report_to=[],
        per_device_train_batch_size=len(pairs),
        use_cpu=True,
        bf16=False,
    )
    trainer = trl.DPOTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(pairs),
        processing_class=load_tokenizer(tiny_model_path),
    )
    examples = [trainer.train_dataset[i] for i in range(len(pairs))]
    inputs = trainer.data_collator(examples)
    model.eval()  # no dropout on either side
    if trainer.ref_model is not None:
        trainer.ref_model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, inputs).item()

        rows = [
            {"prompt_ids": e["prompt_ids"], "response_ids": e[side]}
            for e in examples
            for side in ("chosen_ids", "rejected_ids")
        ]
        batch = Batch.from_rows(rows)
        collated = collate_sequences(batch)
        width = max(len(r["response_ids"]) for r in rows)
        token_logps = response_logprobs(model, collated, width)
        mask = (torch.arange(width)[None] < collated["response_lengths"][:, None]).float()
        ref = (token_logps * mask).sum(dim=1)  # policy == reference at the start: h = 0 up to rounding
        values, _ = LOSSES.get("dpo")(token_logps, mask, {"ref_logps": ref}, beta=0.2, **ours)
        our_loss = (aggregate(values, mask, "pair-mean") / normalizer(mask, "pair-mean")).item()
    assert our_loss == pytest.approx(trl_loss, abs=1e-5)
    # And with a reference that differs: shift the reference, both sides see the same shift.
    with torch.no_grad():
        shifted = ref + torch.tensor([0.3, -0.2] * len(pairs))
        values, _ = LOSSES.get("dpo")(token_logps, mask, {"ref_logps": shifted}, beta=0.2, **ours)
        inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = shifted[0::2], shifted[1::2]
        trainer.precompute_ref_logps = True
        assert (aggregate(values, mask, "pair-mean") / normalizer(mask, "pair-mean")).item() == pytest.approx(
            trainer.compute_loss(model, inputs).item(), abs=1e-5
        )
