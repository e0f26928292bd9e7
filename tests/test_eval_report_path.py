"""Where `rlcore eval` writes its report: the run directory it is given, never the checkpoint."""

from __future__ import annotations

import pytest

from algorithms.checkpoint_eval import default_output, report_path
from rlcore.config import ConfigError, load_config


def test_report_goes_into_the_run_directory_never_into_the_checkpoint(tmp_path):
    config = load_config({"run": {"output_dir": str(tmp_path / "runs"), "name": "probe"}})
    checkpoint = tmp_path / "runs" / "train" / "checkpoints" / "step_4"
    checkpoint.mkdir(parents=True)
    expected = (tmp_path / "runs" / "probe" / "eval" / "multilingual_eval_checkpoints_step_4.json").resolve()
    assert report_path(config, str(checkpoint)) == expected == default_output(config, str(checkpoint)).resolve()
    assert report_path(config, "builtin:tiny-arith").name == "multilingual_eval_builtin_tiny-arith.json"
    assert report_path(config, str(checkpoint), tmp_path / "x.json") == (tmp_path / "x.json").resolve()
    with pytest.raises(ConfigError, match="inside the checkpoint"):
        report_path(config, str(checkpoint), checkpoint / "eval.json")
