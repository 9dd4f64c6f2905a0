"""Nothing lost, nothing unsafe: one case per promise, each checked against the real pipeline.

Every case starts from a data folder where the graph already ran on good data (so a champion
model exists), adds its bad input or fault, runs again, and asserts the exact error or reason,
the row accounting, the untouched landing files (sha256) and, where the run stopped before
training, the untouched model. RELIABILITY.md is rendered from ``CASES``; a test keeps it in step
(`python -m ml_assets_tests.definitions.test_reliability` rewrites it).
"""

import gzip
import hashlib
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest
import skops.io

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.contract.validation import validate_rows
from ml_assets.lib.core.safe_csv import neutralize
from ml_assets.lib.core.storage import ArtifactLoadError, atomic_write_bytes, load_model_bytes
from ml_assets.lib.model.modeling import model_fingerprint
from ml_assets.lib.project.project_config import with_source_columns
from ml_assets_tests.conftest import SMALL_ROWS, check_results, materialize, stored

ROOT = Path(__file__).resolve().parents[2]
HEADER = "numeric1,numeric2,category,target\n"
GOOD_ROW = "0.5,50,A,1\n"
MODEL = Path("storage") / "trained_model.skops"
MARKER = Path("/tmp/ml_assets_payload_marker")
CHAMPION_FINGERPRINT: list[str] = []


@dataclass(frozen=True)
class Case:
    """One promise of the pipeline and the input or fault that tests it."""

    id: str
    area: str
    scenario: str
    guarantee: str


CASES = [
    Case(
        "missing_column",
        "input",
        "a file without a contract column",
        "batch rejected: `<file>: missing required column(s) ['numeric2']`; the other batches train",
    ),
    Case(
        "extra_column",
        "input",
        "a file with a column the strict contract lacks",
        "batch rejected: `<file>: unexpected column(s) ['comment']`",
    ),
    Case(
        "zero_byte_file",
        "input",
        "an empty (0-byte) file",
        "batch rejected: `<file>: file is empty (0 bytes)`",
    ),
    Case(
        "header_only_file",
        "input",
        "a CSV with a header and no rows",
        "batch rejected: `<file>: no data rows (a header only)`; the other batches train",
    ),
    Case(
        "ragged_csv",
        "input",
        "a CSV row with more fields than the header",
        "batch rejected: `<file>: ragged rows (1): line 3: 5 fields, expected 4`; no line skipped silently",
    ),
    Case(
        "non_utf8_bytes",
        "input",
        "Latin-1 bytes in a CSV",
        "batch rejected naming the file, line and byte offset",
    ),
    Case(
        "byte_order_mark",
        "input",
        "a UTF-8 CSV starting with a byte-order mark",
        "read normally; the BOM is not part of the first column name",
    ),
    Case(
        "unsupported_format",
        "input",
        "an .xlsx file in the landing folder",
        "batch rejected: `<file>: unsupported format '.xlsx'`",
    ),
    Case(
        "file_too_large",
        "input",
        "a file above `max_file_bytes`",
        "batch rejected: `<file>: <n> bytes exceeds the <cap>-byte file cap`",
    ),
    Case(
        "gzip_bomb",
        "input",
        "a small .csv.gz expanding past the cap",
        "batch rejected while decompressing: `exceeds the <cap>-byte file cap once decompressed`",
    ),
    Case(
        "symlink_escape",
        "input",
        "a symlink in the landing folder pointing outside it",
        "refused: `<file>: resolves outside the landing folder`; the target is never read",
    ),
    Case(
        "control_characters_in_name",
        "input",
        "a file name with a newline in it",
        "refused: `'<name>': file name contains control characters`",
    ),
    Case(
        "landing_outside_data_dir",
        "input",
        "`landing_subdir` set to `../elsewhere` or an absolute path",
        "refused: the config pattern rejects it, and the resource raises `must stay inside data_dir`",
    ),
    Case(
        "same_content_new_name",
        "input",
        "a copy of an already landed file under a new name",
        "rows read once; the copy is recorded as a duplicate with reason `same content as demo.csv`",
    ),
    Case(
        "text_in_numeric_column",
        "rows",
        "`abc` in numeric2",
        "row quarantined: `numeric2: dtype('float64') failed for 'abc'`",
    ),
    Case(
        "null_in_required_column",
        "rows",
        "an empty numeric2",
        "row quarantined: `numeric2: not_nullable failed for None`",
    ),
    Case(
        "out_of_range_value",
        "rows",
        "numeric2 = 250",
        "row quarantined: `numeric2: less_than_or_equal_to(100.0) failed for '250'`",
    ),
    Case(
        "unknown_category",
        "rows",
        "category `Z`",
        "row quarantined: `category: isin(['A', 'B', 'C']) failed for 'Z'`",
    ),
    Case(
        "nan_and_infinity",
        "rows",
        "`NaN` in nullable numeric1, `inf` in numeric1",
        "NaN is a missing value (allowed); infinity is quarantined: `numeric1: finite failed for 'inf'`",
    ),
    Case(
        "decimal_comma",
        "rows",
        "numeric2 written `50,5`",
        "row quarantined: `numeric2: decimal point (found a decimal comma) failed for '50,5'`",
    ),
    Case(
        "several_failures_in_one_row",
        "rows",
        "text in numeric1, out-of-range numeric2, unknown category in one row",
        "every failure of the row is reported, not only the first",
    ),
    Case(
        "duplicate_keys",
        "rows",
        "two rows sharing a unique key",
        "both rows quarantined: `id: field_uniqueness failed for 'K1'`",
    ),
    Case(
        "mostly_bad_file",
        "rows",
        "a file where 3 of 4 rows break the contract (limit 5%)",
        "the whole batch is rejected and quarantined (`batch rejected: 75.0% ...`) with a reason file in `ingestion/rejected/`",
    ),
    Case(
        "crash_mid_write",
        "fault",
        "the process is killed (SIGKILL) while the model file is being written",
        "the previous model file is intact (same sha256) and loads",
    ),
    Case(
        "disk_full",
        "fault",
        "writes fail with EFBIG (RLIMIT_FSIZE) while the model is written",
        "the previous model is intact; no temporary file is left behind",
    ),
    Case(
        "exception_in_each_step",
        "fault",
        "an exception in the batches step (also mid-batch), training or evaluation",
        "the run fails, every stored artifact still loads, the model is unchanged, and the next run succeeds (a half-processed batch is processed again)",
    ),
    Case(
        "two_runs_at_once",
        "fault",
        "two `dagster asset materialize` runs of the whole graph at the same time",
        "both runs succeed and every artifact loads afterwards",
    ),
    Case(
        "pickle_payload",
        "artifact",
        "a pickle planted as the model file",
        "refused with `not a skops archive`; the payload never runs (no marker file)",
    ),
    Case(
        "untrusted_type",
        "artifact",
        "a skops archive holding a type outside the trusted list",
        "refused with `refusing to load untrusted types`; nothing is instantiated",
    ),
    Case(
        "truncated_model",
        "artifact",
        "a model file cut in half",
        "refused with `damaged model archive`",
    ),
    Case(
        "tampered_model",
        "artifact",
        "a model file with bytes flipped inside",
        "refused (CRC or structure mismatch) with the file named",
    ),
    Case(
        "formula_injection",
        "report",
        "quarantined text starting with `=`, `+`, `-`, `@` or holding control characters",
        "the CSV export prefixes it with `'` and drops control characters",
    ),
    Case(
        "webserver_binds_loopback",
        "exposure",
        "`dagster-webserver` started with no host option",
        "listens on 127.0.0.1 only",
    ),
]
CASE_IDS = {case.id for case in CASES}


def render_reliability_md() -> str:
    """RELIABILITY.md, from ``CASES``."""
    lines = [
        "# Reliability: what the pipeline promises, case by case",
        "",
        "Generated from `ml_assets_tests/definitions/test_reliability.py`, where each row is a test; a test fails",
        "when this file and the cases differ (`python -m ml_assets_tests.definitions.test_reliability` rewrites it).",
        "Every case also checks that landing files keep their sha256 and that rows in equal rows",
        "validated plus rows quarantined. A bad file never stops the good ones: it is rejected as a",
        "batch, with its rows in quarantine and a reason file naming its sha256.",
        "",
        "| case | area | input or fault | guarantee |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{c.id}` | {c.area} | {c.scenario} | {c.guarantee} |" for c in CASES]
    return "\n".join(lines) + "\n"


def test_reliability_md_lists_every_case() -> None:
    assert (ROOT / "RELIABILITY.md").read_text() == render_reliability_md()


def case(case_id: str) -> str:
    assert case_id in CASE_IDS, case_id
    return case_id


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def landing_state(data_dir: Path) -> dict[str, str]:
    landing = data_dir / "landing"
    return {
        path.name: sha256(path)
        for path in landing.iterdir()
        if path.is_file() and not path.is_symlink()
    }


@pytest.fixture(scope="module")
def champion_dir(tmp_path_factory) -> Path:
    """A data folder where the whole graph already succeeded on good demo data."""
    folder = tmp_path_factory.mktemp("champion")
    (folder / "landing").mkdir()
    make_demo_frame(SMALL_ROWS).to_csv(folder / "landing" / "demo.csv", index=False)
    with dg.instance_for_test() as instance:
        assert materialize(folder, instance).success
    model = load_model_bytes((folder / MODEL).read_bytes(), "champion")
    CHAMPION_FINGERPRINT[:] = [model_fingerprint(model)]
    return folder


@pytest.fixture
def data_dir(champion_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(champion_dir, folder, symlinks=True)
    return folder


class Outcome:
    """What a run did to the data folder, for the assertions every case shares."""

    def __init__(self, data_dir: Path, result: dg.ExecuteInProcessResult, before: dict, model: str):
        self.data_dir, self.result = data_dir, result
        self.landing_before, self.model_before = before, model
        self.fingerprint_before = CHAMPION_FINGERPRINT[0]

    @property
    def error(self) -> str:
        failures = self.result.get_step_failure_events()
        return failures[0].step_failure_data.error.message if failures else ""

    def quarantined(self) -> pd.DataFrame:
        return stored(self.data_dir, "quarantined_rows")

    def reason(self, name: str) -> dict:
        path = self.data_dir / "ingestion" / "rejected" / f"{name}.reason.json"
        return json.loads(path.read_text())

    def assert_inputs_untouched(self) -> None:
        assert landing_state(self.data_dir) == self.landing_before

    def assert_model_untouched(self) -> None:
        assert sha256(self.data_dir / MODEL) == self.model_before
        load_model_bytes((self.data_dir / MODEL).read_bytes(), "champion")

    def assert_same_model(self) -> None:
        """Retrained on the same accepted batches: the same fitted model (skops bytes vary)."""
        model = load_model_bytes((self.data_dir / MODEL).read_bytes(), "retrained")
        assert model_fingerprint(model) == self.fingerprint_before

    def assert_rows_accounted(self) -> None:
        raw, valid = stored(self.data_dir, "raw_data"), stored(self.data_dir, "validated_data")
        assert len(raw) == len(valid) + len(self.quarantined())


def run_case(
    data_dir: Path, prepare: Callable[[Path], None], settings: dict | None = None
) -> Outcome:
    prepare(data_dir / "landing")
    before, model = landing_state(data_dir), sha256(data_dir / MODEL)
    with dg.instance_for_test() as instance:
        result = materialize(data_dir, instance, settings=settings)
    return Outcome(data_dir, result, before, model)


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def prepare(landing: Path) -> None:
        (landing / name).write_bytes(content.encode() if isinstance(content, str) else content)

    return prepare


FILE_ERRORS = {
    case("missing_column"): (
        write("no_numeric2.csv", "numeric1,category,target\n0.5,A,1\n"),
        None,
        "no_numeric2.csv: missing required column(s) ['numeric2']",
    ),
    case("extra_column"): (
        write("extra.csv", "numeric1,numeric2,category,target,comment\n0.5,50,A,1,hi\n"),
        None,
        "extra.csv: unexpected column(s) ['comment'] not in the data contract",
    ),
    case("zero_byte_file"): (write("empty.csv", b""), None, "empty.csv: file is empty (0 bytes)"),
    case("ragged_csv"): (
        write("ragged.csv", HEADER + GOOD_ROW + "0.1,40,B,0,extra\n"),
        None,
        "ragged.csv: ragged rows (1): line 3: 5 fields, expected 4",
    ),
    case("non_utf8_bytes"): (
        write("latin1.csv", HEADER.encode() + b"0.5,50,\xc9,1\n"),
        None,
        "latin1.csv: line 2, byte 41: not valid UTF-8",
    ),
    case("unsupported_format"): (
        write("data.xlsx", b"PK\x03\x04"),
        None,
        "data.xlsx: unsupported format '.xlsx'",
    ),
    case("file_too_large"): (
        write("big.csv", HEADER + GOOD_ROW * 3000),
        {"max_file_bytes": 20_000},
        "big.csv: 33034 bytes exceeds the 20000-byte file cap",
    ),
    case("gzip_bomb"): (
        write("bomb.csv.gz", gzip.compress((HEADER + GOOD_ROW * 200_000).encode())),
        {"max_file_bytes": 1_000_000},
        "bomb.csv.gz: exceeds the 1000000-byte file cap once decompressed",
    ),
    case("control_characters_in_name"): (
        write("bad\nname.csv", HEADER + GOOD_ROW),
        None,
        "'bad\\nname.csv': file name contains control characters",
    ),
}


@pytest.mark.parametrize("case_id", sorted(FILE_ERRORS))
def test_unreadable_files_are_rejected_and_the_good_ones_train(
    data_dir: Path, case_id: str
) -> None:
    prepare, settings, message = FILE_ERRORS[case_id]
    outcome = run_case(data_dir, prepare, settings)
    assert outcome.result.success, outcome.error
    warned = check_results(outcome.result)["batches_accepted"]
    assert not warned.passed and message in warned.description
    outcome.assert_inputs_untouched()
    outcome.assert_same_model()
    name = message.split(":")[0].strip("'").replace("\\n", "\n")
    reason = outcome.reason(name)
    assert reason["file"] == name and message in reason["reason"] and reason["stage"] == "ingestion"
    assert len(reason["sha256"]) == 64


def test_symlink_escaping_the_landing_folder_is_never_followed(
    data_dir: Path, tmp_path: Path
) -> None:
    case("symlink_escape")
    secret = tmp_path / "secret.csv"
    secret.write_text(HEADER + GOOD_ROW)
    outcome = run_case(data_dir, lambda landing: os.symlink(secret, landing / "link.csv"))
    assert outcome.result.success, outcome.error
    warned = check_results(outcome.result)["batches_accepted"]
    assert "link.csv refused: link.csv: resolves outside the landing folder" in warned.description
    assert outcome.reason("link.csv")["status"] == "refused"
    outcome.assert_inputs_untouched()
    outcome.assert_same_model()


def test_landing_folder_cannot_leave_the_data_folder(data_dir: Path, tmp_path: Path) -> None:
    case("landing_outside_data_dir")
    for subdir in ("../elsewhere", str(tmp_path / "abs")):
        outcome = run_case(data_dir, lambda landing: None, {"landing_subdir": subdir})
        assert not outcome.result.success
        assert f"landing_subdir {subdir!r} must stay inside data_dir" in outcome.error
        outcome.assert_model_untouched()
    from ml_assets.lib.project.project_config import DatasetSection

    with pytest.raises(ValueError, match="landing_subdir"):
        DatasetSection(name="x", target="t", task="binary", landing_subdir="../elsewhere")


def test_header_only_file_fails_its_blocking_check(data_dir: Path) -> None:
    case("header_only_file")
    outcome = run_case(data_dir, write("header.csv", HEADER))
    assert outcome.result.success, outcome.error
    warned = check_results(outcome.result)["batches_accepted"]
    assert "header.csv: no data rows (a header only)" in warned.description
    assert outcome.reason("header.csv")["reason"] == "header.csv: no data rows (a header only)"
    outcome.assert_inputs_untouched()
    outcome.assert_same_model()


def test_byte_order_mark_is_read_as_plain_utf8(data_dir: Path) -> None:
    case("byte_order_mark")
    outcome = run_case(data_dir, write("bom.csv", b"\xef\xbb\xbf" + (HEADER + GOOD_ROW).encode()))
    assert outcome.result.success
    raw = stored(data_dir, "raw_data")
    assert raw.loc[raw["_source_file"] == "bom.csv", "numeric1"].tolist() == ["0.5"]
    outcome.assert_rows_accounted()
    outcome.assert_inputs_untouched()


def test_same_content_under_a_new_name_is_read_once(data_dir: Path) -> None:
    case("same_content_new_name")
    outcome = run_case(
        data_dir, lambda landing: shutil.copy(landing / "demo.csv", landing / "demo_copy.csv")
    )
    assert outcome.result.success
    assert len(stored(data_dir, "raw_data")) == SMALL_ROWS
    reason = outcome.reason("demo_copy.csv")
    assert reason["reason"] == "same content as demo.csv; its rows are read once"
    assert reason["sha256"] == outcome.landing_before["demo.csv"]
    manifest = json.loads((data_dir / "ingestion" / "manifest.json").read_text())
    statuses = {entry["file"]: entry["status"] for entry in manifest["files"]}
    assert statuses == {"demo.csv": "accepted", "demo_copy.csv": "duplicate"}
    outcome.assert_rows_accounted()
    outcome.assert_inputs_untouched()


ROW_CASES = {
    case("text_in_numeric_column"): (
        "0.5,abc,A,1\n",
        ["numeric2: dtype('float64') failed for 'abc'"],
    ),
    case("null_in_required_column"): ("0.5,,A,1\n", ["numeric2: not_nullable failed for None"]),
    case("out_of_range_value"): (
        "0.5,250,A,1\n",
        ["numeric2: less_than_or_equal_to(100.0) failed for '250'"],
    ),
    case("unknown_category"): ("0.5,50,Z,1\n", ["category: isin(['A', 'B', 'C']) failed for 'Z'"]),
    case("nan_and_infinity"): ("NaN,50,A,1\ninf,50,A,1\n", ["numeric1: finite failed for 'inf'"]),
    case("decimal_comma"): (
        '0.5,"50,5",A,1\n',
        ["numeric2: decimal point (found a decimal comma) failed for '50,5'"],
    ),
    case("several_failures_in_one_row"): (
        "abc,250,Z,1\n",
        [
            "category: isin(['A', 'B', 'C']) failed for 'Z'; numeric1: dtype('float64') failed for 'abc'; "
            "numeric2: less_than_or_equal_to(100.0) failed for '250'"
        ],
    ),
}


@pytest.mark.parametrize("case_id", sorted(ROW_CASES))
def test_bad_rows_are_quarantined_with_file_line_and_reason(data_dir: Path, case_id: str) -> None:
    rows, reasons = ROW_CASES[case_id]
    outcome = run_case(data_dir, write("batch.csv", HEADER + GOOD_ROW * 20 + rows))
    assert outcome.result.success, outcome.error
    quarantined = outcome.quarantined()
    assert quarantined["_reason"].tolist() == reasons
    assert set(quarantined["_source_file"]) == {"batch.csv"}
    assert quarantined["_source_line"].max() == 22 + rows.count("\n") - 1
    outcome.assert_rows_accounted()
    outcome.assert_inputs_untouched()


def test_duplicate_keys_are_quarantined_with_their_lines() -> None:
    case("duplicate_keys")
    schema = with_source_columns(
        pa.DataFrameSchema({"id": pa.Column(str, unique=True), "x": pa.Column(float)})
    )
    raw = pd.DataFrame(
        {
            "id": ["K1", "K2", "K1"],
            "x": ["1", "2", "3"],
            "_batch": "keys.csv-00000000",
            "_source_file": "keys.csv",
            "_source_line": [2, 3, 4],
        }
    )
    result = validate_rows(raw, schema)
    assert result.quarantined["_reason"].tolist() == ["id: field_uniqueness failed for 'K1'"] * 2
    assert result.quarantined["_source_line"].tolist() == [2, 4]
    assert len(result.valid) + len(result.quarantined) == len(raw)


def test_a_mostly_bad_file_is_quarantined_whole(data_dir: Path) -> None:
    case("mostly_bad_file")
    outcome = run_case(
        data_dir, write("shifted.csv", HEADER + GOOD_ROW + "x,1,A,1\ny,2,B,0\nz,3,C,1\n")
    )
    assert outcome.result.success, outcome.error
    quarantined = outcome.quarantined()
    assert quarantined["_source_line"].tolist() == [2, 3, 4, 5]
    assert (
        quarantined["_reason"].iloc[0]
        == "batch rejected: 75.0% of its rows break the contract (limit 5%)"
    )
    reason = outcome.reason("shifted.csv")
    assert reason["stage"] == "validation" and reason["reason"].startswith("75.0% of its rows")
    assert reason["sha256"] == outcome.landing_before["shifted.csv"]
    outcome.assert_rows_accounted()
    outcome.assert_inputs_untouched()


WRITER = """
import sys, time
from pathlib import Path
from ml_assets.lib.core.storage import atomic_write
target, mode = Path(sys.argv[1]), sys.argv[2]
def slow(handle):
    for _ in range(200):
        handle.write(b"x" * 65536)
        handle.flush()
        if mode == "hang":
            time.sleep(0.05)
atomic_write(target, slow)
"""


def test_a_process_killed_mid_write_leaves_the_model_intact(data_dir: Path) -> None:
    case("crash_mid_write")
    model = data_dir / MODEL
    before = sha256(model)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(model), "hang"])
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".trained_model.skops.") for p in model.parent.iterdir()):
        assert time.monotonic() < deadline, "the writer never started"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert sha256(model) == before
    load_model_bytes(model.read_bytes(), str(model))
    with dg.instance_for_test() as instance:
        assert materialize(data_dir, instance).success


def test_a_full_disk_leaves_the_model_intact_and_no_temporary_file(data_dir: Path) -> None:
    case("disk_full")
    model = data_dir / MODEL
    before = sha256(model)
    limited = (
        "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000)); exec(open(0).read())"
    )
    done = subprocess.run(
        [sys.executable, "-c", limited, str(model), "fast"],
        input=WRITER,
        text=True,
        capture_output=True,
        check=False,
    )
    assert done.returncode != 0 and "File too large" in done.stderr
    assert sha256(model) == before
    assert sorted(p.name for p in model.parent.iterdir() if p.name.startswith(".")) == []
    load_model_bytes(model.read_bytes(), str(model))


STEP_FAULTS = {
    "batches": "ml_assets.lib.data.batches.refresh_batches",
    "batches, mid-batch": "ml_assets.lib.data.batches.write_frame",  # a batch half written
    "trained_model": "ml_assets.lib.model.modeling.train_model",
    "evaluation_report": "ml_assets.lib.model.evaluation.evaluate_table",
}


@pytest.mark.parametrize("step", sorted(STEP_FAULTS))
def test_an_exception_in_any_step_corrupts_nothing(data_dir: Path, monkeypatch, step: str) -> None:
    case("exception_in_each_step")
    storage = data_dir / "storage"
    new_batch = step.startswith("batches")  # the batch step has work to do only on new files
    if new_batch:
        make_demo_frame(200, seed=3).to_csv(data_dir / "landing" / "new.csv", index=False)
    before = {path.name: sha256(path) for path in storage.iterdir() if path.is_file()}
    champion_fingerprint = model_fingerprint(
        load_model_bytes((data_dir / MODEL).read_bytes(), "model")
    )

    def explode(*args, **kwargs):
        raise RuntimeError(f"injected fault in {step}")

    monkeypatch.setattr(STEP_FAULTS[step], explode)
    with dg.instance_for_test() as instance:
        failed = materialize(data_dir, instance)
    assert not failed.success and f"injected fault in {step}" in str(
        failed.get_step_failure_events()[0].step_failure_data.error
    )
    model = storage / "trained_model.skops"
    if step == "evaluation_report":  # training ran and succeeded before the fault: same content
        assert (
            model_fingerprint(load_model_bytes(model.read_bytes(), "model")) == champion_fingerprint
        )
    else:
        assert sha256(model) == before["trained_model.skops"]
    for name in ("raw_data", "validated_data", "quarantined_rows", "features"):
        stored(data_dir, name)
    json.loads((storage / "evaluation_report.json").read_text())
    monkeypatch.undo()
    with dg.instance_for_test() as instance:
        assert materialize(data_dir, instance).success
    assert ("new.csv" in set(stored(data_dir, "features")["_source_file"])) is new_batch


def cli_env(data_dir: Path, home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    return {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(data_dir)}


@pytest.mark.slow
def test_two_runs_at_once_both_succeed_and_leave_loadable_artifacts(
    data_dir: Path, tmp_path: Path
) -> None:
    case("two_runs_at_once")
    config = tmp_path / "run.yaml"
    config.write_text(
        "ops:\n  trained_model:\n    config:\n      search: grid\n      search_space: '{\"n_estimators\": [20]}'\n"
    )
    env = cli_env(data_dir, tmp_path / "home")
    dagster = str(Path(sys.executable).with_name("dagster"))
    # The instance's databases exist before two processes use it, as scripts/setup.sh makes them:
    # two processes starting on a fresh SQLite instance race creating its tables.
    subprocess.run([dagster, "instance", "migrate"], env=env, capture_output=True, check=True)
    command = [
        dagster,
        "asset",
        "materialize",
        "-m",
        "ml_assets",
        "--select",
        "*",
        "-c",
        str(config),
    ]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    storage = data_dir / "storage"
    load_model_bytes((storage / "trained_model.skops").read_bytes(), "after concurrent runs")
    for name in ("raw_data", "validated_data", "quarantined_rows", "features"):
        stored(data_dir, name)


def test_a_pickle_payload_is_refused_and_never_runs(data_dir: Path) -> None:
    case("pickle_payload")
    MARKER.unlink(missing_ok=True)

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {MARKER}",))

    atomic_write_bytes(data_dir / MODEL, pickle.dumps(Payload()))
    with dg.instance_for_test() as instance:
        result = materialize(data_dir, instance, selection="evaluation_report")
    assert not result.success
    assert "trained_model.skops: not a skops archive (pickle or other payload refused)" in str(
        result.get_step_failure_events()[0].step_failure_data.error
    )
    assert not MARKER.exists()


class Untrusted:
    """A type no model of this project holds."""

    def __init__(self) -> None:
        self.value = 1


def test_untrusted_truncated_and_tampered_archives_are_refused(data_dir: Path) -> None:
    case("untrusted_type")
    case("truncated_model")
    case("tampered_model")
    with pytest.raises(ArtifactLoadError, match="refusing to load untrusted types .*Untrusted"):
        load_model_bytes(skops.io.dumps({"model": Untrusted()}), "planted.skops")
    data = (data_dir / MODEL).read_bytes()
    with pytest.raises(ArtifactLoadError, match="cut.skops: damaged model archive"):
        load_model_bytes(data[: len(data) // 2], "cut.skops")
    middle = len(data) // 2
    tampered = (
        data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
    )
    with pytest.raises(ArtifactLoadError, match="tampered.skops"):
        load_model_bytes(tampered, "tampered.skops")


def test_quarantine_csv_export_is_safe_to_open_in_a_spreadsheet(data_dir: Path) -> None:
    case("formula_injection")
    assert [
        neutralize(v) for v in ("=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "ok", "a\x07b", 3)
    ] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2",
        "'@cmd",
        "'\tx",
        "ok",
        "ab",
        3,
    ]
    outcome = run_case(
        data_dir,
        write("inject.csv", HEADER + GOOD_ROW * 20 + '0.5,50,"=HYPERLINK(""http://x"")",1\n'),
    )
    assert outcome.result.success
    (export,) = (data_dir / "storage" / "batches").glob("*/inject.csv-*/quarantined_rows.csv")
    exported = pd.read_csv(export)
    assert exported["category"].tolist() == ['\'=HYPERLINK("http://x")']
    assert exported["_reason"].iloc[0].startswith("category: isin")


@pytest.mark.slow
def test_webserver_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    case("webserver_binds_loopback")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(tmp_path / "data", tmp_path / "home")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-w",
            "workspace.yaml",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (
                    "webserver did not start"
                )
                time.sleep(1)
        listening = [
            line.split()[1]
            for table in ("/proc/net/tcp", "/proc/net/tcp6")
            for line in Path(table).read_text().splitlines()[1:]
            if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")
        ]
        assert listening == [f"0100007F:{port:04X}"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


if __name__ == "__main__":
    (ROOT / "RELIABILITY.md").write_text(render_reliability_md())
