"""What configuration picks without any service: the executor, and writes to object storage."""

import pytest
from upath import UPath

from ml_assets.definitions import build_definitions
from ml_assets.executors import DASK_SCHEDULER_ENV, EXECUTOR_ENV, project_executor
from ml_assets.lib.core.storage import atomic_write, atomic_write_text
from ml_assets_tests.conftest import DEMO


def test_the_executor_is_in_process_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert project_executor().name == "in_process"
    monkeypatch.setenv(EXECUTOR_ENV, "dask")
    monkeypatch.setenv(DASK_SCHEDULER_ENV, "tcp://127.0.0.1:8786")
    job = build_definitions(DEMO).resolve_job_def("full_refresh")
    assert job.executor_def.name == "dask"


@pytest.mark.parametrize(
    ("choice", "address", "message"),
    [
        ("dask", "", "ML_ASSETS_EXECUTOR=dask needs \\$ML_ASSETS_DASK_SCHEDULER"),
        ("celery", "", "'celery': expected one of in_process, multiprocess, dask"),
    ],
)
def test_a_wrong_executor_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, choice: str, address: str, message: str
) -> None:
    monkeypatch.setenv(EXECUTOR_ENV, choice)
    monkeypatch.setenv(DASK_SCHEDULER_ENV, address)
    with pytest.raises(ValueError, match=message):
        project_executor()


def test_a_failed_write_to_object_storage_publishes_nothing() -> None:
    """No rename there: the object is uploaded whole once serialised, or not at all."""
    path = UPath("memory://ml-assets-write/storage/trained_model.skops")
    atomic_write_text(path, "previous")

    def half_then_fail(handle) -> None:
        handle.write(b"half of a model")
        raise OSError("serialiser crashed")

    with pytest.raises(OSError, match="serialiser crashed"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "previous"
