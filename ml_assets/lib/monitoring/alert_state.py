"""The last state of each alerting condition, kept in one JSON file so repeats stay silent."""

import contextlib
import fcntl
import json
from pathlib import Path


def remember_state(path: Path, condition: str, state: str | None) -> bool:
    """Record ``condition``'s state (None: healthy); True when it differs from the last one.

    Read, compare and write happen under an exclusive ``flock`` so two runs that hit the same
    condition at once alert once between them.
    """
    from ml_assets.lib.core.storage import atomic_write_text

    if state is None and not path.exists():
        return False  # nothing was ever wrong: leave no file behind
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        states: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            states = json.loads(path.read_text())
        changed = states.get(condition) != state
        if changed:
            if state is None:
                states.pop(condition, None)
            else:
                states[condition] = state
            atomic_write_text(path, json.dumps(states, indent=2, sort_keys=True))
        return changed
