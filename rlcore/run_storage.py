"""Where run directories live: a local folder, or an fsspec URI (s3://, gs://, ...) mirrored from a local staging copy.

A run always writes to a local directory (checkpoints, metrics, logs). When `run.output_dir` is a URI, that
directory is a staging copy under `~/.cache/rlcore/staging/<scheme>/<path>` and `RunStorage` mirrors it to the URI
after every checkpoint and at the end (also when the run fails), and pulls it back before a resume on any machine.
A relative `run.output_dir` in a driver started by `ray job submit --working-dir` would land in Ray's package cache,
which is deleted with the job, so it resolves under the user's home instead (`~/rlcore/<output_dir>`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

STAGING_ROOT = Path.home() / ".cache" / "rlcore" / "staging"
JOB_HOME = Path.home() / "rlcore"  # relative output dirs of jobs with a working dir resolve here
RAY_WORKING_DIR_MARKER = "_ray_pkg_"  # Ray unpacks a job's --working-dir into .../working_dir_files/_ray_pkg_<hash>


def is_uri(location: str) -> bool:
    """Whether `location` names an fsspec filesystem (`s3://bucket/runs`), not a local path."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.isidentifier()


def in_ray_working_dir(cwd: Path | None = None) -> bool:
    """Whether this process runs in a Ray job's unpacked --working-dir (deleted when the job ends)."""
    return RAY_WORKING_DIR_MARKER in str(cwd or Path.cwd())


def resolve_output_dir(output_dir: str, cwd: Path | None = None) -> str:
    """`output_dir` as a run should use it: URIs and absolute paths as given, `~` expanded, and a relative path
    inside a Ray job's working dir moved under ~/rlcore (said in the log)."""
    if is_uri(output_dir):
        return output_dir.rstrip("/")
    path = Path(output_dir).expanduser()
    if path.is_absolute() or not in_ray_working_dir(cwd):
        return str(path)
    resolved = JOB_HOME / path
    log.warning(
        "run.output_dir %r is relative and this job runs in Ray's package cache (%s), which Ray deletes with the "
        "job: writing under %s instead (set an absolute run.output_dir or a URI to choose)",
        output_dir,
        cwd or Path.cwd(),
        resolved,
    )
    return str(resolved)


def staging_dir(uri: str) -> Path:
    """The local copy of the URI `uri`: the same path under STAGING_ROOT/<scheme>/, so nested URIs nest here too."""
    scheme, _, rest = uri.partition("://")
    return STAGING_ROOT / scheme / rest.strip("/")


class RunStorage:
    """Mirrors a local run directory to an fsspec URI (push) and back (pull); uploads only what changed."""

    def __init__(self, uri: str, local_dir: Path):
        import fsspec

        self.uri = uri.rstrip("/")
        self.local_dir = Path(local_dir)
        self.fs, self.root = fsspec.core.url_to_fs(self.uri)
        self.pushed: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns) at its last upload

    def exists(self) -> bool:
        return bool(self.fs.exists(self.root)) and bool(self.fs.find(self.root))

    def pull(self) -> int:
        """Download the remote run into the local directory (before a resume); returns the files fetched."""
        if not self.exists():
            return 0
        remote = self._remote_files()
        for relative in remote:
            target = self.local_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(f"{self.root}/{relative}", str(target))
            self.pushed[relative] = _stamp(target)
        log.info("pulled %d files of %s into %s", len(remote), self.uri, self.local_dir)
        return len(remote)

    def push(self) -> int:
        """Upload new and changed files, and delete remote files the run removed (pruned checkpoints); returns
        the files uploaded. A failure is logged, not raised: the local copy stays complete, and the next push
        sends what this one missed."""
        try:
            return self._push()
        except Exception as error:  # a network hiccup must not end a run whose local copy is intact
            log.warning(
                "could not mirror %s to %s (%s); retried at the next checkpoint", self.local_dir, self.uri, error
            )
            return 0

    def push_file(self, relative: str) -> None:
        """Upload one file of the run directory (e.g. the aggregate of a multi-seed run)."""
        self.fs.makedirs(os.path.dirname(f"{self.root}/{relative}"), exist_ok=True)
        self.fs.put_file(str(self.local_dir / relative), f"{self.root}/{relative}")

    def set_aside(self) -> str | None:
        """Move a previous remote run out of the way of a fresh one (as run_dir.set_aside does locally)."""
        if not self.exists():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.fs.mv(self.root, f"{self.root}.replaced-{stamp}", recursive=True)
        kept = f"{self.uri}.replaced-{stamp}"
        log.warning("run.resume is off and %s holds a previous run: moved it to %s", self.uri, kept)
        return kept

    def _push(self) -> int:
        local = {
            path.relative_to(self.local_dir).as_posix(): path for path in self.local_dir.rglob("*") if path.is_file()
        }
        remote = self._remote_files() if not self.pushed else set(self.pushed)
        uploaded = 0
        for relative, path in sorted(local.items()):
            stamp = _stamp(path)
            if relative in remote and self.pushed.get(relative) == stamp:
                continue
            self.push_file(relative)
            self.pushed[relative] = stamp
            uploaded += 1
        for relative in sorted(remote - set(local)):
            self._remove(relative)
        return uploaded

    def _remove(self, relative: str) -> None:
        """Delete a remote file and the folders it leaves empty (filesystems with real folders keep them)."""
        self.fs.rm_file(f"{self.root}/{relative}")
        self.pushed.pop(relative, None)
        folder = os.path.dirname(relative)
        while folder and self.fs.isdir(f"{self.root}/{folder}") and not self.fs.ls(f"{self.root}/{folder}"):
            self.fs.rmdir(f"{self.root}/{folder}")
            folder = os.path.dirname(folder)

    def _remote_files(self) -> set[str]:
        if not self.fs.exists(self.root):
            return set()
        prefix = self.root.rstrip("/") + "/"
        return {str(path)[len(prefix) :] for path in self.fs.find(self.root) if str(path).startswith(prefix)}


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
