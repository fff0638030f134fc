"""What a server process costs, read from /proc: its process tree, CPU time and peak
resident memory. Used by the benchmark runner and by the tests that bound memory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (rspamd's workers, anything a milter forks)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:
                continue
    return found


def _read(pid: int, name: str) -> str | None:
    """/proc/PID/NAME, or None for a process that has gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return None


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime+stime of the processes (each counts all its threads), in seconds."""
    total = 0
    for stat in filter(None, (_read(pid, "stat") for pid in pids)):
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pids: Iterable[int]) -> float:
    """Sum of VmHWM (each process's peak resident set) in MB."""
    total_kb = 0
    for status in filter(None, (_read(pid, "status") for pid in pids)):
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def resident_mb(pid: int) -> dict[str, float]:
    """What one process holds now, in MB (/proc/PID/smaps_rollup): ``rss`` counts pages
    it shares with other processes in full, ``pss`` a fair share of them, ``uss`` only its
    own. For workers forked from one supervisor, ``pss`` is what each really costs."""
    found = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    for line in (_read(pid, "smaps_rollup") or "").splitlines():
        name, _, rest = line.partition(":")
        value = int(rest.split()[0]) / 1024 if rest.strip() else 0.0
        if name == "Rss":
            found["rss"] = value
        elif name == "Pss":
            found["pss"] = value
        elif name in ("Private_Clean", "Private_Dirty"):
            found["uss"] += value
    return found
