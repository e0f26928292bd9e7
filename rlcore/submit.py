"""`rlcore submit CONFIG [overrides]`: `ray job submit --working-dir DIR -- rlcore train CONFIG ...` through Ray's own
JobSubmissionClient, with the runtime environment built for the user: the working dir without what .gitignore
leaves out (and without run directories), the head's DeepSpeed ops cache, and Ray's token when the head wants one.
It follows the job's log and ends with the job's status and where its run directory is."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from pathlib import Path
from typing import Any

from rlcore.config import ConfigError, load_config

DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the job API of `rlcore cluster start`
EXCLUDES = [".git", ".venv", "runs", "**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"]  # never uploaded
RUN_DIRECTORY = re.compile(r"^run directory: (.+)$", re.MULTILINE)


def job_runtime_env(working_dir: Path) -> dict[str, Any]:
    """The job's runtime environment: the working dir to upload, what to leave out, and the variables a job needs
    to reuse the head's build of DeepSpeed's ops (the head's own, when set)."""
    env_vars = {key: os.environ[key] for key in ("TORCH_EXTENSIONS_DIR",) if os.environ.get(key)}
    return {"working_dir": str(working_dir), "excludes": EXCLUDES, "env_vars": env_vars}


def train_entrypoint(config_file: Path, working_dir: Path, overrides: list[str]) -> str:
    """`rlcore train CONFIG overrides` with CONFIG relative to the working dir (where the job finds it)."""
    try:
        relative = config_file.resolve().relative_to(working_dir.resolve())
    except ValueError:
        raise ConfigError(
            f"{config_file} is outside the working dir {working_dir}: the job only sees the files of the working dir "
            "(run from the project folder, or pass --working-dir)"
        ) from None
    return shlex.join(["rlcore", "train", relative.as_posix(), *overrides])


def submit(config_file: str, overrides: list[str], address: str | None, working_dir: str, follow: bool) -> int:
    """Validate the config here, submit the job, follow its log; returns 0 when the job succeeded."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    load_config(config_file, overrides)  # a bad key fails here, before anything is uploaded
    folder = Path(working_dir)
    entrypoint = train_entrypoint(Path(config_file), folder, overrides)
    client = JobSubmissionClient(address or os.environ.get("RAY_API_SERVER_ADDRESS") or DEFAULT_ADDRESS)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=job_runtime_env(folder))
    print(f"submitted job {job_id}: {entrypoint}", flush=True)
    if not follow:
        print(f"follow it: ray job logs --follow {job_id}")
        return 0
    asyncio.run(_print_log(client, job_id))
    status = client.get_job_status(job_id)
    found = RUN_DIRECTORY.findall(client.get_job_logs(job_id))
    print(f"job {job_id}: {status.value}" + (f"; run directory: {found[-1]}" if found else ""))
    return 0 if status == JobStatus.SUCCEEDED else 1


async def _print_log(client: Any, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)
