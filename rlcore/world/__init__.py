"""The embedded default world: synthetic multilingual arithmetic tasks and a tiny model built on them locally."""

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
from rlcore.world.tiny_model import default_cache_dir, ensure_tiny_model

__all__ = [
    "ANSWER_PHRASES",
    "LANGUAGES",
    "Problem",
    "Step",
    "corrupt_solution",
    "default_cache_dir",
    "ensure_tiny_model",
    "generate_problems",
    "prompt_for",
    "render_solution",
    "to_records",
]
