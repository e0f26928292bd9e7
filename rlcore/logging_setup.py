"""A run's output: the terminal shows what a person watches, the run's log file keeps everything.

While a `RunOutput` is active, sys.stdout and sys.stderr are line filters: every line goes, without colour codes,
to the log file (`<run_dir>/logs/run.log` once the run directory exists; held in memory until then), and to the
terminal only when it is not start-up noise. Noise is what the Ray workers print (vLLM, Triton, NUMA, DeepSpeed and
torch notices, forwarded by Ray with a `(Worker pid=...)` prefix) unless it reports an error, and the driver's own
library warnings. `verbose` shows every line. A terminal that is not a TTY never gets colour codes.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

LOG_DIR, LOG_FILE = "logs", "run.log"
BUFFERED_LINES = 50_000  # held before the run directory exists (a start rarely prints a tenth of that)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
WORKER_LINE = re.compile(r"^\((?:[\w.:-]+ )?pid=\w+(?:, ip=[\d.:a-f]+)?\) ")
WORKER_ERROR = re.compile(r"\b(?:ERROR|CRITICAL|Traceback \(most recent call last\))")
RAY_DEDUP_NOTE = "[repeated "  # Ray's summary of deduplicated worker lines
# The driver's own Python warnings: `file.py:12: FutureWarning: ...` and the source line printed under it.
PYTHON_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


class _LineFilter:
    """A text stream that splits writes into lines and sends each to the log and, if shown, to the terminal."""

    def __init__(self, output: RunOutput, terminal: IO[str]) -> None:
        self._output, self.terminal = output, terminal
        self._pending = ""
        self._after_warning = False
        self.console: Console | None = None  # a live display's console: shown lines print above the display

    def write(self, text: str) -> int:
        with self._output.lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        plain = strip_ansi(line)
        self._output.log_line(plain)
        if not self._shown(plain):
            self._output.hidden += 1
            return
        if self.console is not None:
            self.console.out(line, highlight=False)
        else:
            self.terminal.write((line if self.isatty() else plain) + "\n")
            self.terminal.flush()

    def _shown(self, plain: str) -> bool:
        after_warning, self._after_warning = self._after_warning, False
        if self._output.verbose:
            return True
        if WORKER_LINE.match(plain):
            return bool(WORKER_ERROR.search(plain))
        if PYTHON_WARNING.match(plain):
            self._after_warning = True
            return False
        if after_warning and plain.startswith("  "):  # the source line of a Python warning
            return False
        return RAY_DEDUP_NOTE not in plain

    def flush(self) -> None:
        self.terminal.flush()

    def close_pending(self) -> None:
        if self._pending:
            self.write("\n")

    def isatty(self) -> bool:
        return bool(getattr(self.terminal, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.terminal.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.terminal, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:  # e.g. `errors`, `buffer`: those of the terminal
        return getattr(self.terminal, name)


class RunOutput:
    """Filters sys.stdout/sys.stderr for the length of a `with` block (see the module docstring)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.lock = threading.RLock()
        self.hidden = 0  # lines kept from the terminal
        self.log_path: Path | None = None
        self._buffer: deque[str] = deque(maxlen=BUFFERED_LINES)
        self._log: IO[str] | None = None

    def log_line(self, line: str) -> None:
        with self.lock:
            if self._log is None:
                self._buffer.append(line)
            else:
                self._log.write(line + "\n")
                self._log.flush()

    def attach(self, path: Path) -> None:
        """From now on the log lives at `path` (the lines held so far are written first)."""
        with self.lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._log is not None:
                self._log.close()
            self._log, self.log_path = path.open("a", encoding="utf-8"), path
            self._log.writelines(line + "\n" for line in self._buffer)
            self._log.flush()
            self._buffer.clear()

    def __enter__(self) -> RunOutput:
        global _active
        self._saved = (sys.stdout, sys.stderr, _active)
        self.stdout, self.stderr = _LineFilter(self, sys.stdout), _LineFilter(self, sys.stderr)
        sys.stdout, sys.stderr = self.stdout, self.stderr
        for handler in logging.root.handlers:  # a handler made earlier holds the old stream
            if isinstance(handler, logging.StreamHandler) and handler.stream in (self._saved[0], self._saved[1]):
                handler.setStream(self.stderr if handler.stream is self._saved[1] else self.stdout)
        # The log file keeps every worker line, repeats included (read when Ray is imported: enter before that).
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        self.stdout.close_pending()
        self.stderr.close_pending()
        sys.stdout, sys.stderr, _active = self._saved[0], self._saved[1], self._saved[2]
        for handler in logging.root.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (self.stdout, self.stderr):
                handler.setStream(self._saved[1] if handler.stream is self.stderr else self._saved[0])
        with self.lock:
            if self._log is not None:
                self._log.close()
                self._log = None


_active: RunOutput | None = None


def active_output() -> RunOutput | None:
    """The RunOutput filtering this process's output, if any."""
    return _active


def attach_log(run_dir: Path) -> Path | None:
    """Start writing the active RunOutput's log to `<run_dir>/logs/run.log`; returns that path (None if none)."""
    if _active is None:
        return None
    path = Path(run_dir) / LOG_DIR / LOG_FILE
    _active.attach(path)
    return path


def log_only(line: str) -> None:
    """A line for the log file but not the terminal (e.g. the step line while a live display shows the step)."""
    if _active is not None:
        _active.log_line(strip_ansi(line))


def terminal_console() -> Console:
    """A rich Console on the real terminal (behind the filters), for a live display."""
    from rich.console import Console

    stream = sys.stdout
    return Console(file=stream.terminal if isinstance(stream, _LineFilter) else stream)


def show_through(console: Console | None) -> None:
    """Shown lines print through `console` (above its live display) until called again with None."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _LineFilter):
            stream.console = console
