"""docs/full_cycle.md on a small demo, through the commands a user types, each in a subprocess."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.release.prediction_log import read_prediction_log
from ml_assets.lib.release.registry import CHALLENGER, CHAMPION, ModelRegistry

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
MATERIALIZE = ["dagster", "asset", "materialize", "-m", "ml_assets", "--select", "*"]
CANARY = {"ops": {"production_model": {"config": {"canary": True}}}}
RECORD = {"numeric1": 0.304717, "numeric2": 39.542899, "category": "A"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cycle:
    """The user's shell: one data folder and Dagster home, commands run from the repository."""

    def __init__(self, tmp_path: Path) -> None:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.data = tmp_path / "data"
        self.env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(self.data)}

    def run(self, *command: str) -> subprocess.CompletedProcess:
        program = sys.executable if command[0] == "python" else str(BIN / command[0])
        done = subprocess.run(
            [program, *command[1:]],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
        return done

    @contextmanager
    def serve(self, *options: str) -> Iterator[str]:
        """``ml-assets serve`` on a free port in its own process group, stopped by ^C."""
        port = free_port()
        server = subprocess.Popen(
            [
                str(BIN / "ml-assets"),
                "serve",
                "--port",
                str(port),
                "--poll-seconds",
                "0.2",
                *options,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/health", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None, "no service"
                    time.sleep(0.2)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGINT)
            stderr = server.communicate(timeout=30)[1]
        assert server.returncode == 0, stderr


def predict(url: str, key: str) -> dict:
    answer = httpx.post(
        f"{url}/predict", json={"records": [RECORD]}, headers={"X-Request-Key": key}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"][0]


@pytest.mark.slow
def test_train_serve_canary_analyse_promote_and_roll_back(tmp_path: Path) -> None:
    cycle = Cycle(tmp_path)
    landing = cycle.data / "landing"
    landing.mkdir(parents=True)
    make_demo_frame(400).to_csv(landing / "demo.csv", index=False)
    cycle.run(*MATERIALIZE)
    registry = ModelRegistry(cycle.data / "registry")
    assert registry.aliases() == {CHAMPION: "v0001"}
    with cycle.serve() as url:
        first = predict(url, "first-request")
    assert (first["model_version"], first["prediction"]) == ("v0001", 0)

    cycle.run("ml-assets", "drifted-batch", "--rows", "300")
    cycle.run(*MATERIALIZE, "--config-json", json.dumps(CANARY))
    assert registry.aliases() == {CHAMPION: "v0001", CHALLENGER: "v0002"}
    assert registry.history()[-1]["action"] == "canary"

    with cycle.serve("--canary-fraction", "0.5") as url:
        traffic = cycle.run(
            "python", "scripts/canary_traffic.py", "--url", url, "--requests", "300"
        )
        assert "served 300 records" in traffic.stdout
        cycle.run(
            "dagster", "asset", "materialize", "-m", "ml_assets", "--select", "ab_test_report"
        )
        promoted = cycle.run("ml-assets", "promote", "--reason", "won the canary")
        deadline = time.monotonic() + 10
        while predict(url, "after-promote")["model_version"] != "v0002":
            assert time.monotonic() < deadline, "the service kept the old champion"
            time.sleep(0.2)
    log, _ = read_prediction_log(cycle.data / "serving" / "predictions.jsonl")
    canary = log[log["request_key"].str.startswith("canary-")]
    arms = canary.groupby("arm")["model_version"].agg(set).to_dict()
    assert arms == {CHAMPION: {"v0001"}, CHALLENGER: {"v0002"}}
    assert (canary["arm"] == CHALLENGER).mean() == pytest.approx(0.5, abs=0.12)
    report = json.loads((cycle.data / "storage" / "ab_test_report.json").read_text())
    assert report["recommendation"] in {"promote", "keep", "need more data"}
    assert report["model_versions"] == {CHAMPION: "v0001", CHALLENGER: "v0002"}
    assert sum(report["rows_per_arm"].values()) == 300 and min(report["rows_per_arm"].values()) > 0
    assert promoted.stdout.startswith("champion: v0001 -> v0002 (won the canary; by ")
    assert registry.aliases() == {CHAMPION: "v0002"}

    back = cycle.run("ml-assets", "rollback", "--reason", "back to the old champion")
    assert back.stdout.startswith("champion: v0002 -> v0001 (back to the old champion; by ")
    assert registry.alias(CHAMPION) == "v0001"
