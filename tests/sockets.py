"""Listening sockets of a set of processes and their descendants, sampled while something runs."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

import psutil


class Listener(NamedTuple):
    process: str
    address: str
    port: int


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1, a dual-stack socket bound to IPv4 loopback
    return (mapped or ip).is_loopback


def with_descendants(roots: Iterable[psutil.Process]) -> list[psutil.Process]:
    processes: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            for process in [root, *root.children(recursive=True)]:
                processes[process.pid] = process
        except psutil.Error:  # exited meanwhile
            continue
    return list(processes.values())


def listeners(processes: Iterable[psutil.Process]) -> set[Listener]:
    """TCP sockets in LISTEN state (and bound UDP sockets) of these processes, named by process title."""
    found = set()
    for process in processes:
        try:
            name = f"{process.name()}: {' '.join(process.cmdline())[:100]}"
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN or (
                    connection.status == psutil.CONN_NONE and connection.laddr
                ):
                    found.add(Listener(name, connection.laddr.ip, connection.laddr.port))
        except psutil.Error:
            continue
    return found


class SocketWatch:
    """Samples the listening sockets of `roots()` and their descendants every `interval_s` until the block ends."""

    def __init__(self, roots: Callable[[], Iterable[psutil.Process]], interval_s: float = 1.0):
        self.roots, self.interval_s = roots, interval_s
        self.seen: set[Listener] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        self.seen |= listeners(with_descendants(self.roots()))
        self.samples += 1

    def __enter__(self) -> SocketWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def exposed(self) -> list[Listener]:
        return sorted(listener for listener in self.seen if not is_loopback(listener.address))
