"""Batches: identity, processing once, whole-batch rejection, records that agree, training gates."""

import json
from pathlib import Path

import pandas as pd
import pytest
from upath import UPath

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.data import batches
from ml_assets.lib.data.batch_records import BatchTable, batch_id
from ml_assets.lib.data.batches import (
    BatchRules,
    BatchStore,
    refresh_batches,
    schema_failures,
    table_schemas,
    write_ingestion_records,
)
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.data.training_set_gates import TrainingLimits, failed_gates, training_gates
from ml_assets_tests.conftest import DEMO

HEADER = "numeric1,numeric2,category,target\n"


def rules(**overrides) -> BatchRules:
    values = {
        "contract": DEMO.contract,
        "spec": DEMO_SPEC,
        "max_quarantined_share": 0.05,
        "max_file_bytes": 10_000_000,
        "code_version": "test",
    }
    return BatchRules(**{**values, **overrides})


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    return BatchStore(UPath(tmp_path / "storage" / "batches"))


def land(landing: Path, name: str, rows: int = 200, seed: int = 1) -> Path:
    path = landing / name
    make_demo_frame(rows, seed=seed).to_csv(path, index=False)
    return path


def shifted(landing: Path, name: str, rows: int = 100) -> Path:
    frame = make_demo_frame(rows, seed=9)
    frame["category"] = "D"
    path = landing / name
    frame.to_csv(path, index=False)
    return path


def test_a_batch_is_named_by_its_file_and_content(landing: Path, store: BatchStore) -> None:
    import hashlib

    path = land(landing, "day1.csv")
    refresh = refresh_batches(landing, store, rules())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [record.batch for record in refresh.records] == [f"day1.csv-{sha[:8]}"]
    assert batch_id("day1.csv", sha) == refresh.records[0].batch
    rows = store.read(refresh.table("raw_data"))
    assert set(rows["_batch"]) == {refresh.records[0].batch}


def test_reading_some_columns_stacks_only_those(landing: Path, store: BatchStore) -> None:
    land(landing, "day1.csv", seed=1)
    land(landing, "day2.csv", seed=2)
    table = refresh_batches(landing, store, rules()).table("features")
    whole = store.read(table)
    wanted = DEMO_SPEC.scored_columns
    assert wanted == ["numeric1", "numeric2", "numeric_ratio", "category", "target", "_split"]
    some = store.read(table, wanted)
    assert list(some.columns) == wanted and len(some) == len(whole) == 400
    pd.testing.assert_frame_equal(some, whole[wanted])
    empty = BatchTable(table="features", version=table.version, records=())
    assert list(store.read(empty, wanted).columns) == wanted


def test_a_bad_batch_between_good_ones_is_rejected_whole_and_the_good_ones_train(
    landing: Path, store: BatchStore
) -> None:
    land(landing, "a_good.csv", seed=1)
    shifted(landing, "b_shifted.csv")
    land(landing, "c_good.csv", seed=2)
    refresh = refresh_batches(landing, store, rules())
    statuses = {record.file: record.status for record in refresh.records}
    assert statuses == {
        "a_good.csv": "accepted",
        "b_shifted.csv": "rejected",
        "c_good.csv": "accepted",
    }
    bad = refresh.rejected[0]
    assert bad.reason == "100.0% of its rows break the contract (limit 5%)"
    features = store.read(refresh.table("features"))
    assert sorted(set(features["_source_file"])) == ["a_good.csv", "c_good.csv"]
    assert len(features) == 400
    quarantined = store.read(refresh.table("quarantined_rows"))
    assert len(quarantined) == 100 and set(quarantined["_source_file"]) == {"b_shifted.csv"}
    assert quarantined["_reason"].str.startswith("category: isin").all()


def test_a_mostly_good_rejected_batch_keeps_every_row_with_a_reason(
    landing: Path, store: BatchStore
) -> None:
    (landing / "mixed.csv").write_text(HEADER + "0.5,50,A,1\nx,1,A,1\ny,2,B,0\nz,3,C,1\n")
    refresh = refresh_batches(landing, store, rules(max_quarantined_share=0.5))
    quarantined = store.read(refresh.table("quarantined_rows"))
    assert quarantined["_source_line"].tolist() == [2, 3, 4, 5]
    assert quarantined["_reason"].iloc[0] == (
        "batch rejected: 75.0% of its rows break the contract (limit 50%)"
    )
    assert quarantined["_reason"].iloc[1] == "numeric1: dtype('float64') failed for 'x'"
    record = refresh.records[0]
    assert (record.rows_in, record.rows_valid, record.rows_quarantined) == (4, 0, 4)
    assert record.rows_breaking == 3


def test_a_known_batch_is_never_read_again(landing: Path, store: BatchStore, monkeypatch) -> None:
    for day in range(3):
        land(landing, f"day{day}.csv", seed=day)
    first = refresh_batches(landing, store, rules())
    assert len(first.new) == 3
    reads: list[str] = []
    for name in ("read_capped", "file_sha256"):
        original = getattr(batches, name)

        def counting(path, *args, _original=original, **kwargs):
            reads.append(path.name)
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(batches, name, counting)
    again = refresh_batches(landing, store, rules())
    assert again.new == [] and reads == []
    assert [r.batch for r in again.records] == [r.batch for r in first.records]
    land(landing, "day3.csv", seed=3)
    newer = refresh_batches(landing, store, rules())
    assert reads == ["day3.csv"] and len(newer.new) == 1


def test_new_rules_process_every_batch_again(landing: Path, store: BatchStore) -> None:
    land(landing, "day.csv")
    refresh_batches(landing, store, rules())
    assert len(refresh_batches(landing, store, rules(code_version="edited")).new) == 1


def test_rejected_content_stays_rejected_and_a_correction_is_a_new_batch(
    landing: Path, store: BatchStore
) -> None:
    shifted(landing, "export.csv")
    first = refresh_batches(landing, store, rules())
    again = refresh_batches(landing, store, rules())
    assert again.new == [] and again.records == first.records
    land(landing, "export.csv")
    corrected = refresh_batches(landing, store, rules())
    assert corrected.records[0].accepted and corrected.new == [corrected.records[0].batch]
    assert corrected.records[0].batch != first.records[0].batch


def test_unreadable_files_are_rejected_batches_and_do_not_stop_the_others(
    landing: Path, store: BatchStore
) -> None:
    land(landing, "good.csv")
    (landing / "no_numeric2.csv").write_text("numeric1,category,target\n0.5,A,1\n")
    (landing / "header.csv").write_text(HEADER)
    (landing / "empty.csv").write_bytes(b"")
    refresh = refresh_batches(landing, store, rules())
    reasons = {record.file: record.reason for record in refresh.rejected}
    assert reasons == {
        "empty.csv": "empty.csv: file is empty (0 bytes)",
        "header.csv": "header.csv: no data rows (a header only)",
        "no_numeric2.csv": "no_numeric2.csv: missing required column(s) ['numeric2']; "
        "the file has ['numeric1', 'category', 'target']",
    }
    assert [record.file for record in refresh.records if record.accepted] == ["good.csv"]


def test_repeated_content_is_read_once(landing: Path, store: BatchStore) -> None:
    land(landing, "demo.csv")
    (landing / "demo_copy.csv").write_bytes((landing / "demo.csv").read_bytes())
    refresh = refresh_batches(landing, store, rules())
    assert [record.file for record in refresh.records] == ["demo.csv"]
    assert [(o.file, o.status, o.reason) for o in refresh.others] == [
        ("demo_copy.csv", "duplicate", "same content as demo.csv; its rows are read once")
    ]


def test_the_manifest_and_the_reason_files_agree_on_every_file(
    tmp_path: Path, landing: Path, store: BatchStore
) -> None:
    land(landing, "good.csv")
    shifted(landing, "bad.csv")
    (landing / "good_copy.csv").write_bytes((landing / "good.csv").read_bytes())
    layout = Layout(str(tmp_path))
    records = layout.ingestion
    write_ingestion_records(layout, refresh_batches(landing, store, rules()))
    manifest = json.loads((records / "manifest.json").read_text())
    statuses = {entry["file"]: entry["status"] for entry in manifest["files"]}
    assert statuses == {"bad.csv": "rejected", "good.csv": "accepted", "good_copy.csv": "duplicate"}
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])
    reasons = {path.name for path in (records / "rejected").iterdir()}
    assert reasons == {"bad.csv.reason.json", "good_copy.csv.reason.json"}
    for entry in manifest["files"]:
        if entry["status"] != "accepted":
            reason = json.loads((records / "rejected" / f"{entry['file']}.reason.json").read_text())
            assert reason["sha256"] == entry["sha256"] and reason["status"] == entry["status"]
    land(landing, "bad.csv", seed=5)
    (landing / "good_copy.csv").unlink()
    write_ingestion_records(layout, refresh_batches(landing, store, rules()))
    assert list((records / "rejected").iterdir()) == []


def test_a_batch_table_round_trips_and_versions_by_its_batches(
    landing: Path, store: BatchStore
) -> None:
    land(landing, "a.csv")
    table = refresh_batches(landing, store, rules()).table("features")
    again = BatchTable.from_json(table.to_json())
    assert again == table and again.data_version == table.data_version
    land(landing, "b.csv", seed=3)
    grown = refresh_batches(landing, store, rules()).table("features")
    assert grown.data_version != table.data_version and grown.rows == 400
    pd.testing.assert_frame_equal(
        store.read(grown).iloc[:200].reset_index(drop=True), store.read(table)
    )


LIMITS = TrainingLimits(min_rows=100, default_max_null_share=0.5, max_null_share={"numeric1": 0.2})


def gates_of(landing: Path, store: BatchStore, limits: TrainingLimits = LIMITS) -> dict:
    refresh = refresh_batches(landing, store, rules())
    return {
        gate.name: gate for gate in training_gates(refresh.records, DEMO_SPEC, ["numeric1"], limits)
    }


def test_the_gates_judge_the_training_set_not_the_rejected_batches(
    landing: Path, store: BatchStore
) -> None:
    land(landing, "good.csv", rows=300)
    shifted(landing, "bad.csv", rows=3000)
    gates = gates_of(landing, store)
    assert failed_gates(list(gates.values())) == []
    assert gates["enough_rows"].figures == {"rows": 300, "minimum": 100, "batches": 1}


def test_too_few_rows_and_too_many_nulls_fail_with_figures_and_advice(
    landing: Path, store: BatchStore
) -> None:
    frame = make_demo_frame(60, seed=4, missing_share=0.0)
    frame.loc[:29, "numeric1"] = None
    frame.to_csv(landing / "small.csv", index=False)
    gates = gates_of(landing, store)
    assert gates["enough_rows"].description == (
        "60 rows in the training set from 1 accepted batch(es) (minimum 100): land more data "
        "(rejected batches are listed by validated_data: batches_accepted), or lower "
        "checks.min_rows"
    )
    assert not gates["null_rates"].passed
    assert "numeric1 50.0% (limit 20%)" in gates["null_rates"].description
    assert gates["null_rates"].figures["columns_over_limit"] == "numeric1"


def test_a_class_without_training_rows_fails_the_split(landing: Path, store: BatchStore) -> None:
    frame = make_demo_frame(400, seed=4)
    frame["target"] = 1
    frame.to_csv(landing / "one_class.csv", index=False)
    gate = gates_of(landing, store)["split_is_usable"]
    assert not gate.passed
    assert gate.description.startswith("only 1 class(es) in the training set: ['1']")


def test_a_file_that_cannot_be_read_is_refused_and_the_others_go_on(
    landing: Path, store: BatchStore
) -> None:
    import os

    land(landing, "good.csv")
    os.symlink(landing / "gone.csv", landing / "broken.csv")
    refresh = refresh_batches(landing, store, rules())
    assert [record.file for record in refresh.records] == ["good.csv"]
    assert [(o.file, o.status, o.reason) for o in refresh.others] == [
        ("broken.csv", "refused", "broken.csv: cannot read (No such file or directory)")
    ]


def test_split_counts_per_class_and_for_a_regression(landing: Path) -> None:
    from ml_assets.lib.data.batches import split_counts
    from ml_assets.lib.contract.dataset import DatasetSpec

    features = pd.DataFrame(
        {"y": [1.5, 2.0, 3.0, 0.5], "_split": ["train", "test", "train", "train"]}
    )
    regression = DatasetSpec("r", "y", "regression", ("x",), ())
    assert split_counts(features, regression) == {"*": {"train": 3, "test": 1}}
    labelled = features.assign(y=[0, 1, 1, 0])
    binary = DatasetSpec("b", "y", "binary", ("x",), ())
    assert split_counts(labelled, binary) == {"0": {"train": 2}, "1": {"test": 1, "train": 1}}
    gates = training_gates([], regression, [], LIMITS)
    assert [gate.passed for gate in gates] == [False, True, False]


def test_files_nobody_foresaw_are_rejected_and_never_stop_the_others(
    landing: Path, store: BatchStore, monkeypatch
) -> None:
    land(landing, "good.csv")
    (landing / "bom_only.csv").write_bytes(b"\xef\xbb\xbf")
    (landing / "reserved.csv").write_text(HEADER.strip() + ",_batch\n0.5,50,A,1,x\n")
    (landing / "surprise.csv").write_text(HEADER + "0.5,50,A,1\n")

    def surprise(raw, contract):
        if set(raw["_source_file"]) == {"surprise.csv"}:
            raise RuntimeError("nobody saw this coming")
        return original(raw, contract)

    original = batches.validate_rows
    monkeypatch.setattr(batches, "validate_rows", surprise)
    refresh = refresh_batches(landing, store, rules())
    reasons = {record.file: (record.stage, record.reason) for record in refresh.rejected}
    assert reasons == {
        "bom_only.csv": ("ingestion", "bom_only.csv: file is empty (3 bytes)"),
        "reserved.csv": (
            "ingestion",
            "reserved.csv: line 1: column(s) ['_batch'] are reserved by the pipeline; rename them",
        ),
        "surprise.csv": (
            "error",
            "surprise.csv: could not be processed (RuntimeError: nobody saw this coming); "
            "please report it with the file",
        ),
    }
    assert [record.file for record in refresh.records if record.accepted] == ["good.csv"]
    assert refresh_batches(landing, store, rules()).new == []


LOCKING_CHILD = """
import sys
from pathlib import Path
from upath import UPath
from ml_assets.lib.data.batches import BatchStore
store = BatchStore(UPath(sys.argv[1]), lock_dir=Path(sys.argv[2]))
print("ready", flush=True)
with store.lock():
    print("acquired", flush=True)
"""


@pytest.mark.parametrize("remote", [False, True], ids=["local store", "object store"])
def test_one_refresh_at_a_time_across_processes(tmp_path: Path, remote: bool) -> None:
    """The batches step holds the lock through its outputs; a step in another process waits."""
    import subprocess
    import sys

    root = f"memory://lock-{tmp_path.name}" if remote else str(tmp_path / "store")
    lock_dir = tmp_path / "ingestion"
    with BatchStore(UPath(root), lock_dir=lock_dir).lock():
        child = subprocess.Popen(
            [sys.executable, "-c", LOCKING_CHILD, root, str(lock_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline() == "ready\n"
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=1.5)
    output, _ = child.communicate(timeout=60)
    assert output == "acquired\n"


def test_every_stored_table_meets_the_schema_derived_from_the_contract(
    landing: Path, store: BatchStore
) -> None:
    land(landing, "a_good.csv", seed=1)
    shifted(landing, "b_shifted.csv")
    (landing / "c_mixed.csv").write_text(HEADER + "0.5,50,A,1\nx,1,A,1\n" + "1,2,B,0\n" * 40)
    refresh = refresh_batches(landing, store, rules())
    schemas = table_schemas(DEMO.contract, DEMO_SPEC)
    for name, schema in schemas.items():
        table = refresh.table(name)
        added = pd.concat(table.added_chunks(chunk_rows=7), ignore_index=True)
        assert added.equals(table.read()) and len(table.read()) == table.rows
        schema.validate(table.read(), lazy=True)


def test_schema_failures_name_the_batch_column_rule_file_and_lines(
    landing: Path, store: BatchStore
) -> None:
    import pandera.errors

    land(landing, "a_good.csv", seed=1)
    features = refresh_batches(landing, store, rules()).table("features").read()
    features.loc[[4, 9], "numeric1"] = -1e9
    with pytest.raises(pandera.errors.SchemaErrors) as errors:
        table_schemas(DEMO.contract, DEMO_SPEC)["features"].validate(features, lazy=True)
    assert schema_failures(errors.value.failure_cases, features) == (
        "column numeric1, rule greater_than_or_equal_to(-10.0): 2 failures (values "
        f"-1000000000.0) at batch {features['_batch'][0]}, file a_good.csv lines 6, 11"
    )
