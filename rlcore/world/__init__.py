"""The embedded default world: synthetic multilingual arithmetic tasks and the tiny model trained on them (shipped)."""

from rlcore.world.tasks import (
    ANSWER_PHRASES,
    LANGUAGES,
    Problem,
    Step,
    corrupt_solution,
    generate_problems,
    prompt_for,
    render_solution,
    to_records,
)
from rlcore.world.tiny_model import build_tiny_model, default_cache_dir, tiny_model_path

__all__ = [
    "ANSWER_PHRASES",
    "LANGUAGES",
    "Problem",
    "Step",
    "build_tiny_model",
    "corrupt_solution",
    "default_cache_dir",
    "generate_problems",
    "prompt_for",
    "render_solution",
    "tiny_model_path",
    "to_records",
]
