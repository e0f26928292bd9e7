"""ProcessBench-style first-error evaluation: prediction, F1 on a hand-made table, the reader's errors."""

from __future__ import annotations

import json

import pytest

from rlcore.data import DataError
from rlcore.processbench import NO_ERROR, first_error_f1, predicted_first_error, read_processbench


def test_predicted_first_error_is_the_first_step_below_threshold():
    assert predicted_first_error([0.9, 0.7, 0.4, 0.1]) == 2
    assert predicted_first_error([0.9, 0.5, 0.6]) == NO_ERROR  # 0.5 is not below 0.5
    assert predicted_first_error([0.9, 0.6], threshold=0.7) == 1
    assert predicted_first_error([]) == NO_ERROR


def test_f1_on_a_hand_made_table():
    # erroneous: labels 1, 0, 2, 3 -> predicted 1 (hit), 2 (late), 2 (hit), -1 (missed): 2/4
    # correct:   labels -1 x3     -> predicted -1 (hit), 0 (false alarm), -1 (hit): 2/3
    predicted = [1, 2, 2, -1, -1, 0, -1]
    labels = [1, 0, 2, 3, -1, -1, -1]
    result = first_error_f1(predicted, labels)
    assert result["error_accuracy"] == pytest.approx(0.5)
    assert result["correct_accuracy"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))  # 4/7
    assert (result["n_erroneous"], result["n_correct"]) == (4, 3)
    assert first_error_f1([-1, -1], [0, -1])["f1"] == 0.0  # a judge that never flags scores 0, not 50
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        first_error_f1([1, 2, 3], [1, 2])


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


GOOD = {"id": "gsm8k-0", "problem": "2+2?", "steps": ["2+2=5.", "So 5."], "label": 0, "final_answer_correct": False}


def test_reads_the_processbench_layout(tmp_path):
    rows = [GOOD, {**GOOD, "id": 7, "label": -1, "final_answer_correct": True}, {**GOOD, "id": "x"}]
    del rows[2]["final_answer_correct"]
    solutions = read_processbench(_write(tmp_path / "pb.jsonl", rows))
    assert [s.id for s in solutions] == ["gsm8k-0", "7", "x"]
    assert solutions[0].steps == ("2+2=5.", "So 5.") and solutions[0].label == 0
    assert solutions[1].final_answer_correct is True and solutions[2].final_answer_correct is None


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"label": 2}, "'label' must be -1 or a step index below 2, got 2"),
        ({"label": -2}, "'label' must be -1"),
        ({"label": True}, "'label' must be -1"),
        ({"steps": "2+2=5."}, "'steps' must be a non-empty list of strings"),
        ({"steps": []}, "'steps' must be a non-empty list"),
        ({"steps": ["a", 3]}, "'steps' must be a non-empty list of strings"),
        ({"problem": ""}, "'problem' must be a non-empty string"),
        ({"final_answer_correct": "yes"}, "'final_answer_correct' must be true or false"),
    ],
)
def test_a_malformed_row_names_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path / "pb.jsonl", [GOOD, {**GOOD, **bad}])
    with pytest.raises(DataError, match=f"pb.jsonl:2: {message}"):
        read_processbench(path)


def test_missing_keys_and_empty_files_are_named(tmp_path):
    row = {key: value for key, value in GOOD.items() if key != "label"}
    with pytest.raises(DataError, match=r"pb.jsonl:1: row lacks \['label'\]"):
        read_processbench(_write(tmp_path / "pb.jsonl", [row]))
    with pytest.raises(DataError, match="no solutions"):
        read_processbench(_write(tmp_path / "empty.jsonl", []))
