"""Small fitted demo models, a registry like the pipeline's, and the service on a free port."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import uvicorn

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.data.features import derive_columns
from ml_assets.lib.model.modeling import build_pipeline, model_inputs
from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets.serving.server import ServingSettings, build_app

DEMO = load_project(DEMO_CONFIG)
RECORD = {"numeric1": 0.4, "numeric2": 47.5, "category": "B"}


def fit_demo_model(seed: int, trees: int = 10) -> Any:
    """A small random forest on the demo data; each seed gives another model (and version)."""
    frame = make_demo_frame(400, seed=seed)
    frame = pd.concat([frame, derive_columns(frame, DEMO.spec)], axis=1)
    pipeline = build_pipeline(DEMO.spec, "random_forest", {"n_estimators": trees}, seed=seed)
    return pipeline.fit(model_inputs(frame, DEMO.spec), frame[DEMO.spec.target])


def register(registry: ModelRegistry, model: Any, task: str = DEMO.spec.task) -> str:
    """Register ``model`` with a record like the pipeline's; return its version."""
    record = registry.register(
        model,
        metrics={"roc_auc": 0.9},
        params={"n_estimators": 10},
        data_version="data-1",
        batches=["demo.csv-0123abcd"],
        code_version="code-1",
        config_hash=DEMO.config_hash,
        task=task,
    )
    return record.version


def promote(registry: ModelRegistry, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` as a test would."""
    registry.set_alias(alias, version, reason="test", actor="tests")


class Service:
    """A running service: its base URL, registry and log."""

    def __init__(self, url: str, registry: ModelRegistry, log_path: Path) -> None:
        self.url = url
        self.registry = registry
        self.log_path = log_path


@contextlib.contextmanager
def running_service(tmp_path: Path, **settings: Any) -> Iterator[Service]:
    """The service on a free loopback port in a thread of this process, stopped on exit."""
    values = {
        "port": 0,
        "poll_seconds": 0.05,
        "registry_dir": str(tmp_path / "registry"),
        "log_path": str(tmp_path / "serving" / "predictions.jsonl"),
        **settings,
    }
    serving = ServingSettings(**values)
    app = build_app(serving, DEMO)
    server = uvicorn.Server(uvicorn.Config(app, host=serving.host, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield Service(
            f"http://{host}:{port}", ModelRegistry(values["registry_dir"]), Path(values["log_path"])
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.02)
