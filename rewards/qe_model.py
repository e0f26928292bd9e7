"""The QE reward's models (rewards/qe.py): a transformers regression model or word tagger read as (source,
translation) text pairs, and COMET-family QE checkpoints (CometKiwi) through the unbabel-comet package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rlcore.modeling import TORCH_DTYPES, load_tokenizer, resolve_model_path
from rlcore.mqm import OK, SEVERITIES, regression_predictions, word_tag_predictions
from rlcore.world.qe_data import BUILTIN_TINY_QE, tiny_qe_path

COMET_EXTRA = "gpu"  # the pyproject extra that holds unbabel-comet
COMET_CHECKPOINT = Path("checkpoints") / "model.ckpt"  # where a downloaded COMET model dir keeps its weights


class MissingCometError(ImportError):
    """The `comet` backend was asked for without the unbabel-comet package installed."""


def import_comet() -> Any:
    """The `comet` module, or ONE error that names the extra to install."""
    try:
        import comet
    except ImportError:
        raise MissingCometError(
            "the QE reward's comet backend (CometKiwi and other COMET QE checkpoints) needs the unbabel-comet "
            f"package, in rlcore's {COMET_EXTRA!r} extra: pip install 'rlcore[{COMET_EXTRA}]'"
        ) from None
    return comet


def comet_checkpoint(path: str) -> Path:
    """A COMET checkpoint file: `path` itself, or `checkpoints/model.ckpt` in a model dir (a Hugging Face snapshot
    of e.g. Unbabel/wmt22-cometkiwi-da, downloaded beforehand: no hub is used)."""
    candidate = Path(path)
    if candidate.is_dir():
        candidate = candidate / COMET_CHECKPOINT
    if not candidate.is_file():
        raise FileNotFoundError(f"COMET checkpoint not found: {candidate} (give a .ckpt file or a COMET model dir)")
    return candidate


class CometScorer:
    """Sentence scores of a COMET QE model (inputs `src` and `mt`, no reference), on the GPU when there is one."""

    def __init__(self, path: str, micro_batch_size: int):
        comet = import_comet()
        self.model = comet.load_from_checkpoint(str(comet_checkpoint(path)))
        self.micro_batch_size = micro_batch_size

    def scores(self, sources: Sequence[str], translations: Sequence[str]) -> list[float]:
        data = [{"src": s, "mt": t} for s, t in zip(sources, translations, strict=True)]
        gpus = 1 if torch.cuda.is_available() else 0
        output = self.model.predict(data, batch_size=self.micro_batch_size, gpus=gpus, progress_bar=False)
        return [float(score) for score in output.scores]


class PairModel:
    """A transformers model and its tokenizer reading (source, translation) as a text pair, on `device`."""

    def __init__(
        self, path: str, tagger: bool, dtype: str, device: torch.device, micro_batch_size: int, max_length: int
    ):
        from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

        path = str(tiny_qe_path()) if path == BUILTIN_TINY_QE else resolve_model_path(path)
        loader = AutoModelForTokenClassification if tagger else AutoModelForSequenceClassification
        self.model = loader.from_pretrained(path, dtype=TORCH_DTYPES[dtype]).to(device).eval()
        self.tokenizer = load_tokenizer(path)
        self.micro_batch_size, self.max_length = micro_batch_size, max_length
        labels = {str(label) for label in self.model.config.id2label.values()}
        if tagger and not labels <= {OK, *SEVERITIES}:
            raise ValueError(f"QE tagger {path}: labels {sorted(labels)} are not all of {[OK, *SEVERITIES]}")
        if not tagger and self.model.config.num_labels != 1:
            raise ValueError(f"QE model {path} has {self.model.config.num_labels} outputs; a regression model has 1")

    def scores(self, sources: Sequence[str], translations: Sequence[str]) -> list[float]:
        """The regression output of each pair."""
        return regression_predictions(
            self.model, self.tokenizer, sources, translations, self.micro_batch_size, self.max_length
        )

    def tags(self, sources: Sequence[str], translations: Sequence[str]) -> list[list[str]]:
        """The word tags of each translation."""
        return word_tag_predictions(
            self.model, self.tokenizer, sources, translations, self.micro_batch_size, self.max_length
        )
