"""The model registry: immutable versions, verified loads, atomic aliases with a history."""

import hashlib
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from ml_assets.lib.core.storage import ArtifactLoadError
from ml_assets.lib.release.registry import (
    ALIASES_FILE,
    CHALLENGER,
    CHAMPION,
    HISTORY_FILE,
    IntegrityError,
    ModelRegistry,
    RegistryError,
    default_actor,
)

RECORD = {
    "metrics": {"roc_auc": 0.91},
    "params": {"C": 1.0},
    "data_version": "data-abc",
    "batches": ["demo.csv-1234abcd"],
    "code_version": "code-1",
    "config_hash": "config-1",
    "task": "binary",
}


def fitted(seed: int):
    """A small fitted Pipeline; each seed gives a different model (so a different fingerprint)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(60, 3))
    target = (inputs[:, 0] + rng.normal(scale=0.5, size=60) > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        inputs, target
    )


def test_register_get_and_load_round_trip(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    model = fitted(0)
    first = registry.register(model, **RECORD)
    second = registry.register(fitted(1), **RECORD)
    assert (first.version, second.version) == ("v0001", "v0002")
    assert registry.get("v0001") == first
    assert [v.version for v in registry.versions()] == ["v0001", "v0002"]
    stored = (tmp_path / "registry/versions/v0001/model.skops").read_bytes()
    assert first.sha256 == hashlib.sha256(stored).hexdigest()
    assert first.metrics == {"roc_auc": 0.91} and first.batches == ["demo.csv-1234abcd"]
    assert first.created_at.endswith("+00:00")
    loaded, record = registry.load("v0001")
    assert record == first
    probe = np.linspace(-1, 1, 9).reshape(3, 3)
    assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))


def test_register_is_idempotent_per_fingerprint(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.register(fitted(0), **RECORD)
    again = registry.register(fitted(0), **{**RECORD, "metrics": {"roc_auc": 0.5}})
    assert again == first  # the same fitted state: one version, its first record kept
    assert len(registry.versions()) == 1


def test_unknown_versions_and_fields_are_refused_by_name(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.register(fitted(0), **RECORD)
    with pytest.raises(KeyError, match=r"'v0007' is not in the registry .*registered: v0001"):
        registry.get("v0007")
    with pytest.raises(KeyError, match="not a model version"):
        registry.get("../../etc")
    with pytest.raises(TypeError, match=r"unknown model version fields \['accuracy'\]"):
        registry.register(fitted(1), accuracy=0.9)


def test_an_unfinished_registration_is_ignored_and_its_number_skipped(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    (tmp_path / "versions/v0001").mkdir(parents=True)
    (tmp_path / "versions/v0001/model.skops").write_bytes(b"PK half written")
    assert registry.versions() == []
    assert registry.register(fitted(0), **RECORD).version == "v0002"
    assert registry.metrics_of("v0002") == {"roc_auc": 0.91}
    assert registry.metrics_of("v0001") == {} and registry.metrics_of("v0009") == {}


def test_a_corrupted_artifact_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.register(fitted(0), **RECORD)
    model_file = tmp_path / "versions/v0001/model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    with pytest.raises(IntegrityError) as refused:
        registry.load("v0001")
    message = str(refused.value)
    assert "v0001" in message and actual in message and version.sha256 in message
    with pytest.raises(IntegrityError):
        registry.set_alias(CHAMPION, "v0001", reason="test", actor="me")
    assert registry.alias(CHAMPION) is None
    model_file.unlink()
    with pytest.raises(ArtifactLoadError, match="v0001: its model file .* is missing"):
        registry.load("v0001")


def test_a_tampered_sha256_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.register(fitted(0), **RECORD)
    record_file = tmp_path / "versions/v0001/record.json"
    record = json.loads(record_file.read_text())
    record["sha256"] = "0" * 64
    record_file.write_text(json.dumps(record))
    with pytest.raises(
        IntegrityError, match=f"sha256 {version.sha256}, but its record says 0{{64}}"
    ):
        registry.load("v0001")


def test_a_damaged_record_is_named(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.register(fitted(0), **RECORD)
    (tmp_path / "versions/v0001/record.json").write_text('{"version": "v0001", "sha')
    with pytest.raises(RegistryError, match=r"model version v0001: damaged record .*record.json"):
        registry.get("v0001")


def test_an_untrusted_type_in_a_registered_archive_is_refused(tmp_path: Path) -> None:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    registry = ModelRegistry(tmp_path)
    planted = FunctionTransformer(func=np.linalg.pinv)  # numpy.linalg: not on the trusted list
    registry.register(planted)
    assert "numpy.linalg.pinv" in str(
        skops.io.get_untrusted_types(file=registry.model_path("v0001"))
    )
    with pytest.raises(ArtifactLoadError, match="refusing to load untrusted types"):
        registry.load("v0001")


def test_alias_changes_are_recorded_oldest_first(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    one, two = (registry.register(fitted(seed), **RECORD).version for seed in (0, 1))
    registry.set_alias(CHAMPION, one, reason="first model", actor="alice@host", action="promote")
    registry.set_alias(CHALLENGER, two, reason="gate failed", actor="run-1", action="challenge")
    registry.set_alias(CHAMPION, two, reason="better", actor="run-2", action="promote")
    registry.remove_alias(CHALLENGER, reason="promoted", actor="run-2")
    registry.remove_alias(CHALLENGER, reason="again", actor="run-2")  # nothing to remove
    assert registry.alias(CHAMPION) == two and registry.alias(CHALLENGER) is None
    history = registry.history()
    assert [(h["alias"], h["previous"], h["version"], h["action"]) for h in history] == [
        (CHAMPION, None, one, "promote"),
        (CHALLENGER, None, two, "challenge"),
        (CHAMPION, one, two, "promote"),
        (CHALLENGER, two, None, "remove"),
    ]
    assert [h["sequence"] for h in history] == [1, 2, 3, 4]
    assert history[0]["actor"] == "alice@host" and history[1]["reason"] == "gate failed"
    assert all(h["time"].endswith("+00:00") for h in history)
    with pytest.raises(KeyError, match="v0009"):
        registry.set_alias(CHAMPION, "v0009", reason="typo", actor="me")
    assert "@" in default_actor()


def test_a_crash_between_alias_and_history_loses_no_change(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    one, two = (registry.register(fitted(seed), **RECORD).version for seed in (0, 1))
    registry.set_alias(CHAMPION, one, reason="first", actor="me")
    registry.set_alias(CHAMPION, two, reason="second", actor="me")
    history_file = tmp_path / HISTORY_FILE
    lines = history_file.read_bytes().splitlines(keepends=True)
    # The second append never finished: only part of its line reached the disk.
    history_file.write_bytes(lines[0] + lines[1][:20])
    assert [h["version"] for h in registry.history()] == [one, two]
    registry.set_alias(CHAMPION, one, reason="third", actor="me")
    assert [h["sequence"] for h in registry.history()] == [1, 2, 3]
    assert json.loads(history_file.read_text().splitlines()[-1])["reason"] == "third"


def test_a_url_root_works_through_fsspec(tmp_path: Path) -> None:
    url = f"memory://ml-assets-registry/{tmp_path.name}"
    registry = ModelRegistry(url)
    version = registry.register(fitted(0), **RECORD).version
    registry.set_alias(CHAMPION, version, reason="first", actor="me")
    model, record = ModelRegistry(url).load(version)
    assert record.version == version and hasattr(model, "predict_proba")
    assert [h["version"] for h in registry.history()] == [version]


ROUNDS = 150


def _move_champion(root: str, versions: list[str], broken: str, action: str, offset: int) -> None:
    """Repeatedly point the champion at good versions, and try the broken one every time."""
    registry = ModelRegistry(root)
    for step in range(ROUNDS):
        target = versions[(step + offset) % len(versions)]
        registry.set_alias(CHAMPION, target, reason=f"{action} {step}", actor=action, action=action)
        try:
            registry.set_alias(CHAMPION, broken, reason="must fail", actor=action, action=action)
        except ArtifactLoadError:
            pass
        else:
            raise AssertionError(f"{broken} has no model file but became the champion")


@pytest.mark.slow
def test_concurrent_promote_and_rollback_never_leave_a_dangling_alias(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    good = [registry.register(fitted(seed), **RECORD).version for seed in range(3)]
    broken = registry.register(fitted(9), **RECORD).version
    registry.model_path(broken).unlink()
    registry.set_alias(CHAMPION, good[0], reason="start", actor="test")
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_move_champion, args=(str(tmp_path), good, broken, action, offset))
        for action, offset in (("promote", 1), ("rollback", 2))
    ]
    for worker in workers:
        worker.start()
    seen = set()
    while any(worker.is_alive() for worker in workers):
        # A reader takes no lock: whatever it sees must name a present, unchanged model.
        champion = ModelRegistry(tmp_path).alias(CHAMPION)
        assert champion in good
        registry.verify(champion)
        seen.add(champion)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert len(seen) > 1
    history = registry.history()
    assert len(history) == 1 + 2 * ROUNDS
    assert [h["sequence"] for h in history] == list(range(1, len(history) + 1))
    # Serialised read-modify-writes: each change starts from what the previous one left.
    for before, after in zip(history, history[1:], strict=False):
        assert after["previous"] == before["version"]
    assert {h["actor"] for h in history[1:]} == {"promote", "rollback"}
    assert broken not in {h["version"] for h in history}
    state = json.loads((tmp_path / ALIASES_FILE).read_text())
    assert state["aliases"][CHAMPION] == history[-1]["version"]
    assert len((tmp_path / HISTORY_FILE).read_text().splitlines()) == len(history)


def test_an_alias_never_moves_to_a_pickle_even_when_its_record_holds_its_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import pickle

    from ml_assets.cli import main

    registry = ModelRegistry(tmp_path / "registry")
    one, two = (registry.register(fitted(seed), **RECORD).version for seed in (0, 1))
    registry.set_alias(CHAMPION, one, reason="first", actor="tests")
    registry.set_alias(CHALLENGER, two, reason="canary", actor="tests")
    planted = pickle.dumps(fitted(1))  # a pickle runs code when loaded: no loader accepts it
    registry.model_path(two).write_bytes(planted)
    record = json.loads((registry.root / "versions" / two / "record.json").read_text())
    record["sha256"] = hashlib.sha256(planted).hexdigest()  # the hash check alone would pass
    (registry.root / "versions" / two / "record.json").write_text(json.dumps(record))
    assert registry.verify(two).sha256 == record["sha256"]
    aliases, history = registry.aliases(), registry.history()

    with pytest.raises(ArtifactLoadError):
        registry.set_alias(CHAMPION, two, reason="promote", actor="tests")
    assert main(["promote", "--registry", str(registry.root)]) == 2
    assert "ml-assets: " in capsys.readouterr().err
    assert main(["rollback", "--to", two, "--registry", str(registry.root)]) == 2
    assert registry.aliases() == aliases and registry.history() == history
    assert registry.load(one)[1].version == one
