"""Is the process that left something behind (a temp file, a run) still the one running?"""

import os
from pathlib import Path

# Seconds of slack between a process's start time, read from /proc in clock ticks, and a
# timestamp it produced: ticks are 10 ms, and file times can be coarser on some filesystems.
START_TIME_SLACK = 2.0


def _proc_state_and_start(pid: int) -> tuple[str, float] | None:
    """State letter and Unix start time of ``pid`` from /proc; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_time = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_is_alive(pid: int, active_at: float) -> bool:
    """Whether ``pid`` is alive and is the process that was already running at ``active_at``.

    A pid is reused once its process is gone, so a live pid whose process started after
    ``active_at`` (a Unix time: when a writer last touched its file, when a run logged its pid)
    is another process, and the one we asked about is dead. A zombie (killed, not yet reaped by
    its parent) is dead too.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    proc = _proc_state_and_start(pid)
    if proc is None:
        return True
    state, started = proc
    return state not in ("Z", "X") and started <= active_at + START_TIME_SLACK
