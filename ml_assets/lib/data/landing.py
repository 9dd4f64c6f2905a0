"""Deciding, from cheap file stats, which landing files hold new content worth a refresh.

A file is hashed only once it has settled: nothing has written to, renamed or otherwise changed
it for ``QUIET_SECONDS`` (its modification and change times say so; the change time cannot be set
back), or its size and times stayed the same for one whole tick. So half-written files wait, and a
file copied or renamed in is taken at the first tick after it landed rather than the second. A
file is hashed only when those stats changed since it was last hashed (so a tick with nothing new
reads no data). Content already processed, under any name, is skipped.
"""

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
# Seconds a file must have been left alone to count as settled at the first tick that sees it.
# A writer pausing longer than this between writes would be read half-way, as one pausing a
# whole tick always could: write large files as ``name.part`` and rename them when complete.
QUIET_SECONDS = 2.0


def is_candidate(name: str) -> bool:
    """Whether a file name is data to read (not hidden, not still being written)."""
    return not name.startswith((".", "~")) and not name.endswith(IN_PROGRESS_SUFFIXES)


@dataclass
class SeenFile:
    """What the last tick knew of a file: its stats and, once stable, its content hash."""

    size: int
    mtime_ns: int
    ctime_ns: int
    sha256: str | None = None

    def stats(self) -> tuple[int, int, int]:
        """What must stay the same for the content to count as unchanged and settled."""
        return (self.size, self.mtime_ns, self.ctime_ns)


@dataclass
class LandingCursor:
    """Sensor state kept between ticks (in the Dagster instance, so it survives restarts)."""

    seen: dict[str, SeenFile] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)

    def to_json(self) -> str:
        """Serialise for the sensor cursor."""
        seen = {name: [*f.stats(), f.sha256] for name, f in sorted(self.seen.items())}
        return json.dumps({"seen": seen, "processed": sorted(self.processed)})

    @classmethod
    def from_json(cls, text: str | None) -> "LandingCursor":
        """Read a cursor back; no cursor means a first tick."""
        if not text:
            return cls()
        data = json.loads(text)
        seen = {name: SeenFile(*values) for name, values in data["seen"].items()}
        return cls(seen=seen, processed=set(data["processed"]))

    @classmethod
    def from_known(cls, hashes: Mapping[str, Sequence[Any]]) -> "LandingCursor":
        """A first tick's cursor from the batches step's record of the files it identified.

        Content a run without the sensor took in (the CLI, before `dagster dev` first starts)
        is then not requested again: that run would change no data yet retrain every model.
        """
        seen = {name: SeenFile(*values) for name, values in hashes.items()}
        return cls(seen=seen, processed={f.sha256 for f in seen.values() if f.sha256})


@dataclass(frozen=True)
class NewFile:
    """A stable file whose content has not been processed before."""

    name: str
    sha256: str


@dataclass(frozen=True)
class Scan:
    """Outcome of one tick: new content, files still settling, unreadable files, next cursor."""

    new: list[NewFile]
    waiting: list[str]
    errors: list[str]
    cursor: LandingCursor

    @property
    def run_key(self) -> str:
        """Identifies the new content itself, so it is never requested twice."""
        digest = hashlib.sha256("\n".join(sorted({f.sha256 for f in self.new})).encode())
        return f"landing-{digest.hexdigest()[:24]}"


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks so a large file never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_landing(
    folder: Path, previous: LandingCursor, quiet_seconds: float = QUIET_SECONDS
) -> Scan:
    """Compare the folder with the previous cursor; see the module docstring for the rules."""
    cursor = LandingCursor(processed=set(previous.processed))
    quiet_since = time.time_ns() - int(quiet_seconds * 1e9)
    new, waiting, errors = [], [], []
    root = folder.resolve()
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        if not is_candidate(path.name):
            continue
        try:
            if path.resolve().parent != root:
                raise OSError("resolves outside the landing folder")
            stat = path.stat()
            if not path.is_file():
                continue
            now = SeenFile(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            before = previous.seen.get(path.name)
            unchanged = before is not None and before.stats() == now.stats()
            if not unchanged and max(now.mtime_ns, now.ctime_ns) > quiet_since:
                cursor.seen[path.name] = now
                waiting.append(path.name)
                continue
            now.sha256 = (before.sha256 if unchanged else None) or file_sha256(path)
        except OSError as error:
            errors.append(f"{path.name}: cannot read ({error.strerror or error})")
            continue
        cursor.seen[path.name] = now
        sha = now.sha256
        if sha not in cursor.processed:
            new.append(NewFile(path.name, sha))
            cursor.processed.add(sha)
    return Scan(new=new, waiting=waiting, errors=errors, cursor=cursor)
