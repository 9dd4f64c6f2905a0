"""The landing sensor, tick by tick: run requests and the cursor it leaves behind."""

import os
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.automation.sensors import (
    BATCH_ASSETS,
    build_landing_sensor,
    build_run_failure_sensor,
)
from ml_assets.constants import FILES_TAG, LANDING_QUIET_ENV
from ml_assets.lib.data.landing import LandingCursor
from ml_assets.resources.alerts import AlertSink
from ml_assets_tests.conftest import settings_for


class Landing:
    """A landing folder and the sensor's cursor, advanced one tick at a time."""

    def __init__(self, data_dir: Path, quiet_seconds: float = 3600.0) -> None:
        """``quiet_seconds`` long by default: these ticks follow the tick rule alone."""
        self.data_dir = data_dir
        self.folder = data_dir / "landing"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sensor = build_landing_sensor(self.folder, quiet_seconds=quiet_seconds)
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def drop(self, name: str, text: str, mtime: int | None = None) -> Path:
        path = self.folder / name
        path.write_text(text)
        if mtime is not None:
            os.utime(path, ns=(mtime, mtime))
        return path

    def tick(self) -> dg.RunRequest | dg.SkipReason:
        context = dg.build_sensor_context(cursor=self.cursor, instance=self.instance)
        result = self.sensor(context)
        self.cursor = context.cursor
        return result

    def settled_tick(self) -> dg.RunRequest | dg.SkipReason:
        """First tick sees new stats, the next one finds them unchanged and hashes the files."""
        assert isinstance(self.tick(), dg.SkipReason)
        return self.tick()

    @property
    def state(self) -> LandingCursor:
        return LandingCursor.from_json(self.cursor)


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path)


def test_first_tick_on_an_empty_folder_requests_nothing(landing: Landing) -> None:
    result = landing.tick()
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no new content"
    assert landing.state.seen == {} and landing.state.processed == set()


def test_a_new_file_is_requested_once_it_has_settled(landing: Landing) -> None:
    landing.drop("a.csv", "x\n1\n")
    first = landing.tick()
    assert isinstance(first, dg.SkipReason) and "1 file(s) still settling" in first.skip_message
    assert landing.state.seen["a.csv"].sha256 is None
    request = landing.tick()
    assert isinstance(request, dg.RunRequest)
    assert request.asset_selection == BATCH_ASSETS
    assert request.tags[FILES_TAG] == "a.csv"
    assert request.run_key.startswith("landing-")
    assert landing.state.processed == {landing.state.seen["a.csv"].sha256}


def test_a_file_left_alone_long_enough_is_requested_at_the_first_tick(tmp_path: Path) -> None:
    """Copied or renamed in and untouched since: no second tick to wait for."""
    import time

    landing = Landing(tmp_path, quiet_seconds=0.3)
    # Its modification time set far back: the change time, which utime sets, still counts.
    landing.drop("a.csv", "x\n1\n", mtime=946_684_800_000_000_000)
    assert isinstance(landing.tick(), dg.SkipReason)
    time.sleep(0.4)
    landing.drop("b.csv", "x\n2\n")
    time.sleep(0.4)
    request = landing.tick()
    assert isinstance(request, dg.RunRequest) and request.tags[FILES_TAG] == "a.csv, b.csv"
    landing.drop("b.csv", "x\n3\n")  # written again: it waits, though its name was taken
    assert isinstance(landing.tick(), dg.SkipReason)
    time.sleep(0.4)
    request = landing.tick()
    assert isinstance(request, dg.RunRequest) and request.tags[FILES_TAG] == "b.csv"


def test_the_quiet_period_is_set_by_the_environment(tmp_path: Path, monkeypatch) -> None:
    """Writers that pause for long between writes need a longer one."""
    import time

    monkeypatch.setenv(LANDING_QUIET_ENV, "0.2")
    sensor = build_landing_sensor(tmp_path)
    (tmp_path / "a.csv").write_text("x\n1\n")
    time.sleep(0.3)
    result = sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert isinstance(result, dg.RunRequest) and result.tags[FILES_TAG] == "a.csv"
    monkeypatch.setenv(LANDING_QUIET_ENV, "3600")
    result = build_landing_sensor(tmp_path)(
        dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral())
    )
    assert isinstance(result, dg.SkipReason)


def test_nothing_new_requests_nothing_and_reads_no_data(landing: Landing, monkeypatch) -> None:
    landing.drop("a.csv", "x\n1\n")
    assert isinstance(landing.settled_tick(), dg.RunRequest)
    import ml_assets.lib.data.landing as module

    monkeypatch.setattr(module, "file_sha256", lambda path: pytest.fail(f"read {path}"))
    before = landing.cursor
    assert isinstance(landing.tick(), dg.SkipReason)
    assert landing.cursor == before


def test_same_content_under_another_name_is_not_processed_again(landing: Landing) -> None:
    landing.drop("a.csv", "x\n1\n")
    landing.settled_tick()
    landing.drop("copy_of_a.csv", "x\n1\n")
    result = landing.settled_tick()
    assert isinstance(result, dg.SkipReason)
    assert set(landing.state.seen) == {"a.csv", "copy_of_a.csv"}
    assert len(landing.state.processed) == 1


def test_a_corrected_file_under_the_same_name_is_processed(landing: Landing) -> None:
    landing.drop("a.csv", "x\n1\n", mtime=1_000_000_000_000_000_000)
    first = landing.settled_tick()
    landing.drop("a.csv", "x\n2\n", mtime=1_000_000_000_000_000_000)
    second = landing.settled_tick()
    assert isinstance(second, dg.RunRequest) and second.run_key != first.run_key
    assert len(landing.state.processed) == 2


def test_a_file_older_than_anything_seen_is_still_processed(landing: Landing) -> None:
    landing.drop("new.csv", "x\n1\n")
    landing.settled_tick()
    landing.drop("old.csv", "x\n7\n", mtime=946_684_800_000_000_000)
    result = landing.settled_tick()
    assert isinstance(result, dg.RunRequest) and result.tags[FILES_TAG] == "old.csv"


def test_partial_files_and_growing_files_wait(landing: Landing) -> None:
    landing.drop("big.csv.part", "x\n1\n")
    landing.drop("upload.tmp", "x\n1\n")
    landing.drop("growing.csv", "x\n1\n")
    assert isinstance(landing.tick(), dg.SkipReason)
    landing.drop("growing.csv", "x\n1\n2\n")
    assert isinstance(landing.tick(), dg.SkipReason)
    assert set(landing.state.seen) == {"growing.csv"}
    request = landing.tick()
    assert isinstance(request, dg.RunRequest) and request.tags[FILES_TAG] == "growing.csv"


def test_a_burst_of_files_becomes_one_request(landing: Landing) -> None:
    for index in range(12):
        landing.drop(f"part_{index:02d}.csv", f"x\n{index}\n")
    request = landing.settled_tick()
    assert isinstance(request, dg.RunRequest)
    assert request.tags[FILES_TAG].startswith("part_00.csv, part_01.csv")
    assert len(landing.state.processed) == 12


def test_an_unreadable_file_is_named_and_does_not_stop_the_others(landing: Landing) -> None:
    os.symlink(landing.folder / "gone.csv", landing.folder / "broken.csv")
    landing.drop("good.csv", "x\n1\n")
    landing.tick()
    request = landing.tick()
    assert isinstance(request, dg.RunRequest) and request.tags[FILES_TAG] == "good.csv"
    assert "broken.csv" not in landing.state.seen
    skipped = landing.sensor(
        dg.build_sensor_context(cursor=landing.cursor, instance=landing.instance)
    )
    assert "broken.csv: cannot read (No such file or directory)" in skipped.skip_message


def test_cursor_round_trips_through_json(landing: Landing) -> None:
    landing.drop("a.csv", "x\n1\n")
    landing.settled_tick()
    assert LandingCursor.from_json(landing.state.to_json()) == landing.state


def test_run_failure_sensor_writes_an_alert(tmp_path: Path) -> None:
    import json

    @dg.asset
    def broken() -> None:
        raise ValueError("boom")

    with dg.instance_for_test() as instance:
        result = dg.materialize([broken], instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        build_run_failure_sensor(AlertSink(settings=settings_for(tmp_path)))(context)
    alert = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert alert["kind"] == "run_failure" and alert["run_id"] == result.run_id
    assert alert["trigger"] == "manual"


def test_alert_sink_posts_to_a_webhook_as_well_as_the_file(tmp_path: Path) -> None:
    import http.server
    import json
    import threading

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.handle_request, daemon=True).start()
    sink = AlertSink(
        settings=settings_for(tmp_path),
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
    )
    sent = sink.send("drift", "numeric1 drifted", column="numeric1")
    server.server_close()
    assert received == [sent]
    assert json.loads((tmp_path / "alerts.jsonl").read_text()) == sent


def test_a_first_tick_skips_what_a_run_without_the_sensor_took_in(
    data_dir: Path, instance: dg.DagsterInstance
) -> None:
    """The README's command, then `dagster dev`: the folder is not taken in (and trained) twice."""
    from ml_assets.resources.settings import batch_store
    from ml_assets_tests.conftest import materialize

    materialize(data_dir, instance, "tag:stage=data")
    store = batch_store(settings_for(data_dir))
    landing = Landing(data_dir)
    landing.sensor = build_landing_sensor(landing.folder, known=store.landing_hashes)
    assert isinstance(landing.tick(), dg.SkipReason)
    assert isinstance(landing.tick(), dg.SkipReason)

    landing.drop("new.csv", "numeric1,numeric2,category,target\n1,2,A,0\n")
    request = landing.settled_tick()
    assert isinstance(request, dg.RunRequest)
    assert request.tags[FILES_TAG] == "new.csv"
