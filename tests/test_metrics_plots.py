"""The run's plots, read back from the matplotlib figures: moving average, standard-error bands, the `mean` style,
the legend outside the data, and the KL / entropy / clip-fraction panel; and the per-step progress line."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from rlcore.metrics import MetricsLogger, PhaseProgress
from rlcore.metrics.progress import watched_metrics
from rlcore.metrics.reports import (
    moving_average,
    plot_accuracy,
    plot_policy,
    plot_reward,
    plot_run,
    read_metrics,
)

pytest.importorskip("matplotlib")


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def test_moving_average_is_a_trailing_mean() -> None:
    assert moving_average([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [1.0, 1.5, 2.5, 3.5, 4.5]
    assert moving_average([2.0, 4.0, 9.0], 5) == [2.0, 3.0, 5.0]
    assert moving_average([], 3) == []


def test_reward_plot_draws_the_raw_curve_under_its_moving_average() -> None:
    rewards = [0.0, 1.0] * 20  # 40 steps: window 4
    rows = [{"step": s + 1, "reward/mean": r} for s, r in enumerate(rewards)]
    rows.append({"step": 41, "reward/mean": None})  # a NaN step is skipped
    fig = plot_reward(rows)
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    raw, smooth = lines["reward/mean (per step)"], lines["moving average (4)"]
    assert list(raw.get_xdata()) == list(range(1, 41)) and list(raw.get_ydata()) == rewards
    assert list(smooth.get_ydata())[:4] == [0.0, 0.5, pytest.approx(1 / 3), 0.5]
    assert all(v == 0.5 for v in list(smooth.get_ydata())[4:])
    assert raw.get_alpha() < 1 and smooth.get_linewidth() > raw.get_linewidth()
    assert plot_reward([{"step": 1, "loss": 1.0}]) is None


def band_edges(collection) -> tuple[list[float], list[float]]:
    """The lower and upper edges of a fill_between band (its polygon's vertices, by x)."""
    vertices = collection.get_paths()[0].vertices
    ys: dict[float, list[float]] = {}
    for x, y in vertices:
        ys.setdefault(round(float(x), 6), []).append(float(y))
    xs = sorted(ys)
    return [min(ys[x]) for x in xs], [max(ys[x]) for x in xs]


def test_accuracy_plot_has_a_standard_error_band_per_language_and_a_distinct_mean() -> None:
    rows = [
        {"step": 0, "eval/accuracy/en": 0.5, "eval/accuracy/fr": 0.2, "eval/accuracy/mean": 0.35, "eval/n/en": 100},
        {"step": 10, "eval/accuracy/en": 0.9, "eval/accuracy/fr": 0.4, "eval/accuracy/mean": 0.65, "eval/n/en": 100},
    ]
    fig = plot_accuracy(rows, questions_per_language=25)  # fr has no eval/n: the configured 25 questions
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"en", "fr", "mean"}
    bands = {c.get_label(): c for c in ax.collections}
    low, high = band_edges(bands["_en ±1 SE"])
    se = [math.sqrt(0.25 / 100), math.sqrt(0.09 / 100)]
    assert low == pytest.approx([0.5 - se[0], 0.9 - se[1]]) and high == pytest.approx([0.5 + se[0], 0.9 + se[1]])
    low, high = band_edges(bands["_fr ±1 SE"])
    assert high == pytest.approx([0.2 + math.sqrt(0.16 / 25), 0.4 + math.sqrt(0.24 / 25)])
    mean = lines["mean"]
    assert mean.get_linestyle() == "--" and mean.get_color() == "black"
    assert mean.get_linewidth() > lines["en"].get_linewidth()
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend_texts == ["en", "fr", "mean"]  # the bands stay out of the legend


def test_legends_sit_outside_the_axes(tmp_path: Path) -> None:
    rows = [{"step": s, "reward/mean": 0.1 * s, "eval/accuracy/en": 0.5, "train/entropy": 1.0} for s in range(5)]
    for fig in (plot_reward(rows), plot_accuracy(rows, 10), plot_policy(rows)):
        fig.canvas.draw()
        for ax in fig.axes:
            legend_box = ax.get_legend().get_window_extent()
            assert legend_box.x0 >= ax.get_window_extent().x1  # right of the plotting area: covers no data


def test_policy_plot_has_one_axis_each_for_kl_entropy_and_clip_fraction() -> None:
    rows = [
        {"step": s, "train/loss": 1e-9, "train/kl_ref": 0.001 * s, "train/entropy": 2.0 - 0.1 * s}
        | {"train/clip_fraction": 0.05}
        for s in range(1, 4)
    ]
    fig = plot_policy(rows)
    plotted = {line.get_label(): list(line.get_ydata()) for ax in fig.axes for line in ax.get_lines()}
    assert plotted == {
        "train/kl_ref": pytest.approx([0.001, 0.002, 0.003]),
        "train/entropy": pytest.approx([1.9, 1.8, 1.7]),
        "train/clip_fraction": [0.05] * 3,
    }
    assert len(fig.axes) == 3
    assert plot_policy([{"step": 1, "train/loss": 0.5}]) is None


def test_plot_run_writes_the_run_plots(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(0, {"eval/accuracy/en": 0.3, "eval/accuracy/mean": 0.3, "eval/n/en": 20})
        for step in range(1, 4):
            logger.log(step, {"reward/mean": 0.2 * step, "train/loss": 0.0, "train/entropy": 1.5})
    written = plot_run(tmp_path / "metrics.jsonl", tmp_path / "plots", 20, {"loss": ["train/loss"]})
    assert [p.name for p in written] == ["reward.png", "accuracy.png", "policy.png", "loss.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["eval/n/en"] == 20


def test_step_line_omits_phases_that_took_no_time_and_shows_watched_metrics(capsys) -> None:
    progress = PhaseProgress(total_steps=2, phases=["generate", "reference", "train"])
    with progress.phase("generate"):
        time.sleep(0.02)
    with progress.phase("train"):
        time.sleep(0.02)
    metrics = {"reward/mean": 0.25, "train/loss": 0.5, "train/approx_kl_old": 0.001, "train/entropy": 1.25}
    progress.advance(metrics | {"eval/accuracy/mean": 0.375, "groups/solved_all": 0.0})
    progress.close()
    line = capsys.readouterr().out.strip()
    assert "generate" in line and "train" in line and "reference" not in line
    assert line.endswith("reward=0.25 loss=0.5 kl_old=0.001 entropy=1.25 accuracy=37.5%")
    assert watched_metrics({"train/approx_kl_old": 0.0, "train/kl_ref": 0.5}) == {"kl": 0.5}  # 0 on-policy: omitted


def test_start_of_run_evaluation_counts_in_neither_step_1_time_nor_eta(capsys) -> None:
    progress = PhaseProgress(total_steps=3, phases=["generate"])
    with progress.phase("eval"):
        time.sleep(0.3)
    before = progress.restart_clock()
    assert before["time/eval_s"] >= 0.3
    with progress.phase("generate"):
        time.sleep(0.01)
    timings = progress.advance()
    progress.close()
    assert timings["time/eval_s"] == 0.0 and timings["time/step_s"] < 0.2
    line = capsys.readouterr().out
    assert "eval" not in line
    eta = float(line.split("eta ")[1].split("s")[0])
    assert eta < 0.4  # two more steps at the first step's pace, not at the evaluation's
