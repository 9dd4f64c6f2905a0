"""The services the production tests run against, started by scripts/ci/services.sh.

Each fixture reads the address the script exported. Under CI (``CI=true``) a missing service fails
the test, since the script must have started it; elsewhere the test skips, naming what is missing.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from ml_assets_tests.production.stack import Stack, running_stack

START_HINT = "start the services with `source scripts/ci/services.sh`"


def service_address(variable: str, what: str) -> str:
    """The address in ``$variable``, or a failure (CI) / skip (elsewhere) naming the service."""
    address = os.environ.get(variable)
    if address:
        return address
    message = f"{what} is not running: ${variable} is unset ({START_HINT})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def postgres_database() -> Iterator[dict[str, str]]:
    """A fresh database on the test PostgreSQL server, as the production instance's env vars."""
    import psycopg2

    url = urlsplit(service_address("ML_ASSETS_TEST_POSTGRES", "PostgreSQL"))
    database = f"ml_assets_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(url.geturl())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        yield {
            "DAGSTER_PG_HOST": url.hostname or "127.0.0.1",
            "DAGSTER_PG_PORT": str(url.port or 5432),
            "DAGSTER_PG_USER": url.username or "",
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": database,
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_env() -> Iterator[dict[str, str]]:
    """A fresh database on the test PostgreSQL server, as the production instance's env vars."""
    with postgres_database() as env:
        yield env


@pytest.fixture
def dask_scheduler() -> str:
    """The address of the test Dask scheduler (two single-threaded worker processes)."""
    return service_address("ML_ASSETS_TEST_DASK_SCHEDULER", "The Dask scheduler")


def s3_environment() -> dict[str, str]:
    """The test S3 server's endpoint and (moto's) credentials, as the AWS SDK reads them."""
    return {
        "AWS_ENDPOINT_URL": service_address("ML_ASSETS_TEST_S3_ENDPOINT", "The S3 server (moto)"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def new_bucket() -> str:
    """A new bucket on the S3 server the environment names."""
    import s3fs

    bucket = f"ml-assets-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return bucket


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the test S3 server, with the endpoint and credentials in the environment."""
    for variable, value in s3_environment().items():
        monkeypatch.setenv(variable, value)
    return new_bucket()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The production stack (daemon, PostgreSQL, Dask, S3), shared by a module's tests.

    Starting it and refreshing its first batch take about a minute; its tests land files one
    after another and judge what each one caused.
    """
    scheduler = service_address("ML_ASSETS_TEST_DASK_SCHEDULER", "The Dask scheduler")
    with pytest.MonkeyPatch.context() as monkeypatch, postgres_database() as postgres:
        for variable, value in {**postgres, **s3_environment()}.items():
            monkeypatch.setenv(variable, value)
        folder = tmp_path_factory.mktemp("stack")
        with running_stack(folder, postgres, scheduler, new_bucket()) as running:
            yield running
