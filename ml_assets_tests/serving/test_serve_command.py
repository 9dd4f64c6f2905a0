"""`ml-assets serve` in a subprocess: the active project's registry, on loopback, stopped by ^C."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ml_assets.lib.project.project_config import CONFIG_ENV, DATA_DIR_ENV, DEMO_CONFIG
from ml_assets.lib.release.prediction_log import read_prediction_log
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets_tests.serving.support import RECORD, promote, register

ML_ASSETS = str(Path(sys.executable).with_name("ml-assets"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """The local addresses listening on ``port``, as /proc/net/tcp spells them."""
    return [
        line.split()[1]
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for line in Path(table).read_text().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")
    ]


def test_a_canary_fraction_outside_zero_to_one_is_refused_by_name() -> None:
    done = subprocess.run(
        [ML_ASSETS, "serve", "--canary-fraction", "1.5"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--canary-fraction: Input should be less than or equal to 1" in done.stderr


@pytest.mark.slow
def test_serve_answers_on_loopback_from_the_data_dirs_registry(
    tmp_path: Path, demo_models: list
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    version = register(registry, demo_models[0])
    promote(registry, "champion", version)
    port = free_port()
    env = {**os.environ, CONFIG_ENV: str(DEMO_CONFIG), DATA_DIR_ENV: str(tmp_path)}
    server = subprocess.Popen(
        [ML_ASSETS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
        answer = httpx.post(f"{url}/predict", json={"records": [RECORD]}, timeout=10)
        assert listening_addresses(port) == [f"0100007F:{port:04X}"]
    finally:
        server.send_signal(signal.SIGINT)
        stderr = server.communicate(timeout=30)[1]
    assert health.status_code == 200 and health.json()["versions"]["champion"] == version
    assert answer.status_code == 200
    assert server.returncode == 0, stderr
    log, skipped = read_prediction_log(tmp_path / "serving" / "predictions.jsonl")
    assert log["model_version"].tolist() == [version] and skipped == 0
