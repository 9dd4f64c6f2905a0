"""A model registry: immutable versions, the ``champion``/``challenger`` aliases and their history.

Layout under the root (a local folder or any fsspec/UPath URL)::

    versions/<version>/model.skops   the skops archive, never rewritten
    versions/<version>/record.json   ModelVersion as JSON, written last: it marks a complete version
    versions/<version>/gate.json     the approval gate's latest verdict on it (passed, summary)
    aliases.json                     {"aliases": {...}, "sequence": n, "last_change": {...}}
    history.jsonl                    one JSON line per alias change, oldest first
    .lock                            flock'ed by every writer (local roots only)

Writers hold an exclusive ``fcntl.flock`` on ``.lock`` while they choose a version number or change
an alias, so two processes never interleave a read-modify-write. ``aliases.json`` is replaced by
temp file + rename, so readers (which take no lock) see the old or the new aliases, never a
mixture. The alias file carries the change it made (``last_change``), so a crash between the
rename and the history append loses nothing: ``history()`` reports that change and the next writer
appends it. On object storage there is no lock: each object is published whole (the alias file is
never half-written), but two concurrent writers race, the last one winning; keep writers to one at
a time there (the Dagster layer runs them in one pool).
"""

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_assets.lib.core.storage import (
    TRUSTED_MODEL_TYPES,
    ArtifactLoadError,
    atomic_write_bytes,
    atomic_write_text,
    dump_model,
    is_local_path,
    load_model_bytes,
)

VERSIONS_DIR = "versions"
MODEL_FILE = "model.skops"
RECORD_FILE = "record.json"
ALIASES_FILE = "aliases.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
GATE_FILE = "gate.json"
CHAMPION, CHALLENGER = "champion", "challenger"
# Where a candidate that failed the approval gate is kept: no serving path routes to this alias.
FAILED_CANDIDATE = "failed_candidate"
SERVING_ALIASES = (CHAMPION, CHALLENGER)
VERSION_PATTERN = re.compile(r"v(\d{4,})")


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown version, missing or corrupt files)."""


class AliasConflict(RegistryError):
    """A conditional alias change found the alias moved by someone else meanwhile."""


ANY = object()  # ``set_alias(expected=ANY)``: change the alias whatever it names now


class IntegrityError(ArtifactLoadError):
    """A stored model whose bytes do not hash to the sha256 its record holds."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: what it is, what it was trained on, how it scored, by which code."""

    version: str
    sha256: str
    fingerprint: str
    created_at: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data_version: str = ""
    batches: list[str] = field(default_factory=list)
    code_version: str = ""
    config_hash: str = ""
    task: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, as ``record.json`` holds it."""
        return asdict(self)


# What ``register`` takes as keyword fields; the rest of a record the registry fills itself.
REGISTERED_FIELDS = frozenset(f.name for f in fields(ModelVersion)) - {
    "version",
    "sha256",
    "fingerprint",
    "created_at",
}


def default_actor() -> str:
    """Who is acting, as ``user@host``, for the history of a change made outside a run."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays as their plain values; anything else as its text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _as_path(root: Any) -> Any:
    """A ``Path`` for a local root, a ``UPath`` for a URL."""
    if isinstance(root, Path):
        return root
    text = os.fspath(root) if isinstance(root, os.PathLike) else str(root)
    if "://" not in text or text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    from upath import UPath

    return UPath(text)


class ModelRegistry:
    """The registry under one root folder or URL; every method re-reads what is stored."""

    def __init__(self, root: str | os.PathLike) -> None:
        """Open (without creating) the registry at ``root``."""
        self.root = _as_path(root)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the registry for one writer at a time (an flock, released if the process dies)."""
        if not is_local_path(self.root):
            yield
            return
        Path(self.root).mkdir(parents=True, exist_ok=True)
        with open(Path(self.root) / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _folder(self, version: str) -> Any:
        if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
            raise KeyError(f"{version!r} is not a model version (they are named v0001, v0002, …)")
        return self.root / VERSIONS_DIR / version

    def model_path(self, version: str) -> Any:
        """Where the skops file of ``version`` is stored."""
        return self._folder(version) / MODEL_FILE

    def _version_names(self) -> list[str]:
        """Every version folder, complete or not, in registration order."""
        folder = self.root / VERSIONS_DIR
        if not folder.exists():
            return []
        names = [p.name for p in folder.iterdir() if VERSION_PATTERN.fullmatch(p.name)]
        return sorted(names, key=lambda name: int(name[1:]))

    def _read_record(self, version: str) -> ModelVersion | None:
        path = self._folder(version) / RECORD_FILE
        try:
            return ModelVersion(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError) as error:
            message = f"model version {version}: damaged record {path} ({error})"
            raise RegistryError(message) from None

    def get(self, version: str) -> ModelVersion:
        """The record of ``version``; KeyError naming it when it is not (completely) registered."""
        record = self._read_record(version)
        if record is None:
            known = ", ".join(v.version for v in self.versions()) or "none"
            raise KeyError(
                f"model version {version!r} is not in the registry at {self.root} "
                f"(registered: {known})"
            )
        return record

    def metrics_of(self, version: str) -> dict[str, float]:
        """A version's held-out metrics, or {} when it is not (completely) registered."""
        record = self._read_record(version)
        return record.metrics if record is not None else {}

    def versions(self) -> list[ModelVersion]:
        """Every complete version, oldest first (a folder whose record was never written is not)."""
        records = (self._read_record(name) for name in self._version_names())
        return [record for record in records if record is not None]

    def find(self, fingerprint: str) -> ModelVersion | None:
        """The version holding the model of ``fingerprint``, if one does."""
        return next((v for v in self.versions() if v.fingerprint == fingerprint), None)

    def register(self, model: Any, **record_fields: Any) -> ModelVersion:
        """Store ``model`` as a new immutable version, or return the version already holding it.

        Idempotent per ``ml_assets.lib.model.modeling.model_fingerprint``: the same fitted model
        registered twice is one version, whose first record is kept unchanged. The skops file is
        written first and the record last, so a crash mid-way leaves a folder ``versions()``
        ignores and the next registration skips its number.
        """
        from ml_assets.lib.model.modeling import model_fingerprint

        unknown = set(record_fields) - REGISTERED_FIELDS
        if unknown:
            raise TypeError(
                f"unknown model version fields {sorted(unknown)}; "
                f"known: {sorted(REGISTERED_FIELDS)} (put anything else under extra=)"
            )
        fingerprint = model_fingerprint(model)
        data = dump_model(model)
        with self.lock():
            existing = self.find(fingerprint)
            if existing is not None:
                return existing
            names = self._version_names()
            number = int(names[-1][1:]) + 1 if names else 1
            record = ModelVersion(
                version=f"v{number:04d}",
                sha256=hashlib.sha256(data).hexdigest(),
                fingerprint=fingerprint,
                created_at=_now(),
                **record_fields,
            )
            folder = self._folder(record.version)
            atomic_write_bytes(folder / MODEL_FILE, data)
            atomic_write_text(folder / RECORD_FILE, _dumps(record.as_dict()))
        return self.get(record.version)

    def _verified_bytes(self, version: str) -> tuple[bytes, ModelVersion]:
        """The skops bytes of ``version``, refused when missing or when they hash differently."""
        record = self.get(version)
        path = self.model_path(version)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactLoadError(
                f"model version {version}: its model file {path} is missing"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != record.sha256:
            raise IntegrityError(
                f"model version {version}: {path} has sha256 {actual}, but its record says "
                f"{record.sha256}; refusing to load a file that changed after registration"
            )
        return data, record

    def verify(self, version: str) -> ModelVersion:
        """The record of ``version`` once its file is confirmed present and unchanged."""
        return self._verified_bytes(version)[1]

    def load(self, version: str) -> tuple[object, ModelVersion]:
        """The fitted model of ``version`` and its record; refuses a changed or untrusted file."""
        return self._trusted_load(version)

    def _trusted_load(self, version: str) -> tuple[object, ModelVersion]:
        data, record = self._verified_bytes(version)
        model = load_model_bytes(
            data, f"model version {version} ({self.model_path(version)})", TRUSTED_MODEL_TYPES
        )
        return model, record

    def record_verdict(self, version: str, *, passed: bool, summary: str, actor: str) -> None:
        """Keep the approval gate's latest verdict on ``version`` (a re-run may reverse it)."""
        self.get(version)
        verdict = {"passed": bool(passed), "summary": summary, "actor": actor, "time": _now()}
        atomic_write_text(self._folder(version) / GATE_FILE, _dumps(verdict))

    def verdict(self, version: str) -> dict[str, Any] | None:
        """The gate's latest verdict on ``version``, or None when no gate judged it.

        A version registered before verdicts had a file of their own falls back to the gate
        summary its record holds.
        """
        try:
            return json.loads((self._folder(version) / GATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            gate = self.get(version).extra.get("gate")
            if isinstance(gate, Mapping) and "passed" in gate:
                return {"passed": bool(gate["passed"]), "summary": str(gate.get("summary", ""))}
            return None

    def refuse_unapproved(self, version: str) -> None:
        """RegistryError when the gate's latest verdict on ``version`` is a failure."""
        verdict = self.verdict(version)
        if verdict is not None and not verdict["passed"]:
            raise RegistryError(
                f"{version} failed the approval gate ({verdict['summary']}): only approved "
                f"models serve; run the gate again (materialize model_approval) to re-judge it"
            )

    def _alias_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / ALIASES_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"aliases": {}, "sequence": 0, "last_change": None}

    def aliases(self) -> dict[str, str]:
        """Every alias and the version it names."""
        return dict(self._alias_state()["aliases"])

    def alias(self, name: str) -> str | None:
        """The version ``name`` (``champion``, ``challenger``) points at, or None."""
        return self.aliases().get(name)

    def set_alias(
        self,
        name: str,
        version: str,
        *,
        reason: str,
        actor: str,
        action: str = "set",
        expected: Any = ANY,
    ) -> None:
        """Point ``name`` at ``version`` atomically and append the change to the history.

        Refuses a version that is not registered, whose model file is missing or changed, or that
        the trusted loader refuses (a pickle, an untrusted type): the target is loaded before the
        alias moves, so an alias never names a model that cannot load. A serving alias
        (``champion``, ``challenger``) also refuses a version the gate last failed. ``action``
        names the kind of change in the history (``promote``, ``canary``, ``rollback``, …).
        ``expected`` (a version or None) makes the change conditional: AliasConflict if ``name``
        points elsewhere by then.
        """
        self._change_alias(
            name, version, reason=reason, actor=actor, action=action, expected=expected
        )

    def remove_alias(
        self, name: str, *, reason: str, actor: str, action: str = "remove", expected: Any = ANY
    ) -> None:
        """Drop ``name`` (a no-op if it names nothing), recorded in the history.

        ``expected`` makes it conditional, as for ``set_alias``.
        """
        self._change_alias(name, None, reason=reason, actor=actor, action=action, expected=expected)

    def _change_alias(
        self,
        name: str,
        version: str | None,
        *,
        reason: str,
        actor: str,
        action: str,
        expected: Any = ANY,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"an alias needs a name, got {name!r}")
        with self.lock():
            if version is not None:
                self._trusted_load(version)
                if name in SERVING_ALIASES:
                    self.refuse_unapproved(version)
            state = self._alias_state()
            self._repair_history(state)
            aliases = dict(state["aliases"])
            previous = aliases.get(name)
            if expected is not ANY and previous != expected:
                raise AliasConflict(
                    f"{name} points at {previous or 'nothing'}, not {expected or 'nothing'} as "
                    f"expected: it changed meanwhile (see the history of {self.root})"
                )
            if version is None and previous is None:
                return
            if version is None:
                del aliases[name]
            else:
                aliases[name] = version
            change = {
                "sequence": state["sequence"] + 1,
                "time": _now(),
                "alias": name,
                "version": version,
                "previous": previous,
                "action": action,
                "reason": reason,
                "actor": actor,
            }
            new_state = {"aliases": aliases, "sequence": change["sequence"], "last_change": change}
            atomic_write_text(self.root / ALIASES_FILE, _dumps(new_state))
            self._append_history(change)

    def _stored_history(self) -> list[dict[str, Any]]:
        try:
            text = (self.root / HISTORY_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            # A line cut short by a crash mid-append: its alias file was never written.
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
        return entries

    def history(self) -> list[dict[str, Any]]:
        """Every alias change, oldest first.

        Each is a dict of sequence, time, alias, version (None when removed), previous, action,
        reason and actor.
        """
        entries = self._stored_history()
        last = self._alias_state()["last_change"]
        if last is not None and (not entries or entries[-1]["sequence"] < last["sequence"]):
            entries.append(last)
        return entries

    def _repair_history(self, state: Mapping[str, Any]) -> None:
        """Append the alias file's last change if a crash kept it out of the history."""
        last = state["last_change"]
        entries = self._stored_history()
        if last is not None and (not entries or entries[-1]["sequence"] < last["sequence"]):
            self._append_history(last)

    def _append_history(self, change: Mapping[str, Any]) -> None:
        """One line, flushed to disk; on object storage the file is rewritten whole."""
        line = (_dumps(change) + "\n").encode("utf-8")
        path = self.root / HISTORY_FILE
        if not is_local_path(path):
            before = path.read_bytes() if path.exists() else b""
            atomic_write_bytes(path, before + line)
            return
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end the line a crash cut short, so this one parses
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
