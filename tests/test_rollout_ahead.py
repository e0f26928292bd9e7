"""Rollouts started ahead (rlcore.rollout_ahead) with plain functions standing for generation, and the settings
that refuse asynchronous rollout."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from algorithms import build_algorithm
from rlcore.batch import Batch
from rlcore.config import ConfigError, load_config
from rlcore.rollout_ahead import RolloutAhead
from tests.conftest import ROOT

CONFIGS = ROOT / "configs"


class Source:
    """A prompt source: draws are recorded in order; the generation of step s waits until `release[s]` is set."""

    def __init__(self) -> None:
        self.drawn: list[int] = []
        self.generated: list[int] = []
        self.release: defaultdict[int, threading.Event] = defaultdict(threading.Event)

    def position(self) -> int:
        return len(self.drawn)

    def start(self, step: int):
        self.drawn.append(step)  # in the driver, when the step is started

        def generate() -> Batch:
            assert self.release[step].wait(10)
            self.generated.append(step)
            return Batch(columns={"step": [step]})

        return generate


def test_one_step_off_starts_the_next_step_before_returning_this_one():
    source, ahead = Source(), RolloutAhead(1)
    source.release[1].set()
    samples = ahead.take(1, last_step=3, start=source.start, position=source.position)
    assert samples["step"] == [1] and source.drawn == [1, 2]  # step 2's prompts drawn in the driver, in order
    assert list(ahead.pending) == [2] and source.generated == [1]  # step 2 still in flight (not released)
    assert ahead.position(current=source.position()) == 1  # a checkpoint now resumes before step 2's draw
    source.release[2].set()
    ahead.wait_all()
    assert source.generated == [1, 2]
    source.release[3].set()
    assert ahead.take(2, last_step=3, start=source.start, position=source.position)["step"] == [2]
    assert ahead.take(3, last_step=3, start=source.start, position=source.position)["step"] == [3]
    assert source.drawn == [1, 2, 3] and not ahead.pending  # nothing started past the last step
    assert ahead.position(current="here") == "here"
    ahead.close()


def test_k_steps_ahead_and_a_loop_gone_back_starts_again():
    source, ahead = Source(), RolloutAhead(2)
    for step in range(1, 6):
        source.release[step].set()
    assert ahead.take(1, last_step=10, start=source.start, position=source.position)["step"] == [1]
    assert source.drawn == [1, 2, 3] and list(ahead.pending) == [2, 3]
    assert ahead.take(2, last_step=10, start=source.start, position=source.position)["step"] == [2]
    assert source.drawn == [1, 2, 3, 4]
    # Back to step 2 (a learner restarted from a checkpoint): the pending steps 3, 4 are dropped, 2..4 drawn again.
    assert ahead.take(2, last_step=10, start=source.start, position=source.position)["step"] == [2]
    assert source.drawn == [1, 2, 3, 4, 2, 3, 4]
    ahead.close()


def test_a_failed_generation_raises_where_its_step_is_taken_or_waited_for():
    ahead = RolloutAhead(1)

    def start(step: int):
        def generate() -> Batch:
            if step == 2:
                raise RuntimeError("rollout[0].generate died")
            return Batch(columns={"step": [step]})

        return generate

    assert ahead.take(1, last_step=2, start=start, position=lambda: None)["step"] == [1]
    with pytest.raises(RuntimeError, match="generate died"):
        ahead.wait_all()
    ahead.close()  # a failed pending generation is dropped with a warning, not raised again
    with pytest.raises(ValueError):
        RolloutAhead(0)


def test_async_rollout_is_refused_with_autoscale_and_by_algorithms_without_it(tmp_path):
    with pytest.raises(ConfigError, match=r"rollout\.async_steps > 0 and rollout\.autoscale\.enabled"):
        load_config(
            None, ["rollout.async_steps=1", "rollout.autoscale.enabled=true", "rollout.autoscale.max_workers=2"]
        )
    with pytest.raises(ConfigError, match=r"rollout\.async_steps > 0 and rollout\.sleep_level"):
        load_config(None, ["rollout.async_steps=1", "rollout.sleep_level=1", "rollout.num_gpus=1"])
    assert load_config(None, []).rollout.async_steps == 0
    sft = load_config(CONFIGS / "demo_sft.yaml", ["rollout.async_steps=1", f"run.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"rollout\.async_steps: SFT generates with the current policy only"):
        build_algorithm(sft)
    offload = ["learner.num_gpus=1", "learner.zero_stage=3", "learner.offload_during_generation=true"]
    offloading = load_config(None, ["rollout.async_steps=1", *offload, f"run.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"and learner\.offload_during_generation cannot be combined"):
        build_algorithm(offloading)
    grpo = load_config(None, ["rollout.async_steps=2", f"run.output_dir={tmp_path}"])
    algorithm = build_algorithm(grpo)
    assert algorithm.loss_params()["is_truncation"] == 2.0
    assert "is_truncation" not in build_algorithm(load_config(None, [f"run.output_dir={tmp_path}"])).loss_params()
