"""``ml-assets serve``: the active project's champion behind uvicorn, bound to 127.0.0.1.

The project is the one ``$ML_ASSETS_CONFIG`` names and its data folder the pipeline's
(``$ML_ASSETS_DATA_DIR`` overrides it): the registry and the prediction log are where
``ml_assets.lib.core.layout`` puts them (``$ML_ASSETS_REGISTRY_DIR`` moves the registry, as for the
pipeline) unless the settings say otherwise.
"""

import argparse
import sys
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ml_assets.lib.core.layout import REGISTRY_DIR_ENV, Layout
from ml_assets.lib.project.project_config import Project, load_project

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ml_assets.lib.release.registry import ModelRegistry

DEFAULTS = Layout("<data_dir>")


class ServingSettings(BaseModel):
    """Where the service listens, how it routes, what it accepts and where it reads and logs."""

    host: str = Field(
        default="127.0.0.1", description="Interface to bind (127.0.0.1: this machine only)."
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free one).")
    canary_fraction: float = Field(
        default=0.0, ge=0, le=1, description="Share of request keys routed to the challenger."
    )
    shadow: bool = Field(
        default=False,
        description="Score every request with the approved challenger too, log both and answer "
        "with the champion (a paired A/B test; no canary fraction).",
    )
    max_body_bytes: int = Field(
        default=4 * 1024**2, ge=1, description="Largest request body, in bytes."
    )
    max_records: int = Field(default=10_000, ge=1, description="Most records per request.")
    poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the registry's aliases are read."
    )
    log_fsync_seconds: float = Field(
        default=1.0, ge=0, description="Longest time between fsyncs of the log (0: every write)."
    )
    registry_dir: str | None = Field(
        default=None,
        description=f"Registry folder or URL; default ${REGISTRY_DIR_ENV}, else "
        f"{DEFAULTS.registry}.",
    )
    log_path: str | None = Field(
        default=None, description=f"Prediction log; default {DEFAULTS.serving_log}."
    )
    access_log: bool = Field(default=False, description="Log uvicorn's line per request.")


def build_app(settings: ServingSettings, project: Project | None = None) -> "FastAPI":
    """The FastAPI application serving ``project``'s registry with ``settings``."""
    from ml_assets.lib.release.prediction_log import PredictionLog
    from ml_assets.lib.release.registry import ModelRegistry
    from ml_assets.serving.app import create_app
    from ml_assets.serving.models import ModelWatcher
    from ml_assets.serving.records import RecordValidator
    from ml_assets.serving.service import PredictionService

    project = project or load_project()
    layout = project.layout().with_registry(settings.registry_dir)
    registry = ModelRegistry(layout.registry)
    option = f"--canary-fraction {settings.canary_fraction}" if settings.canary_fraction else None
    refusal = challenger_refusal(registry, option or ("--shadow" if settings.shadow else None))
    if refusal:
        sys.stderr.write(f"ml-assets serve: {refusal}\n")
    service = PredictionService(
        RecordValidator(project.contract, project.spec),
        ModelWatcher(registry, project.spec, settings.poll_seconds),
        PredictionLog(settings.log_path or layout.serving_log, settings.log_fsync_seconds),
        canary_fraction=settings.canary_fraction,
        max_records=settings.max_records,
        shadow=settings.shadow,
    )
    return create_app(service, settings.max_body_bytes)


def challenger_refusal(registry: "ModelRegistry", option: str | None) -> str | None:
    """Why ``option`` (a canary fraction, shadow mode) uses no challenger now, or None.

    Only a challenger the approval gate did not fail is ever routed to or shadowed. The champion
    serves every request meanwhile; an approved challenger set later (``production_model`` with
    ``canary: true``) is used from the next registry check.
    """
    from ml_assets.lib.release.registry import CHALLENGER, FAILED_CANDIDATE, RegistryError

    if option is None:
        return None
    challenger = registry.alias(CHALLENGER)
    failed = registry.alias(FAILED_CANDIDATE)
    why = "the registry has no challenger" + (
        f" ({failed}, the last candidate, failed the approval gate and is never served)"
        if failed
        else ""
    )
    if challenger is not None:
        try:
            registry.refuse_unapproved(challenger)
            return None
        except (RegistryError, KeyError) as error:
            why = str(error).strip("'\"")
    return (
        f"{option} refused: {why}. The champion serves every request; a challenger that passes "
        "the gate (production_model with canary: true) is used once set"
    )


def serve(settings: ServingSettings) -> None:
    """Run the service in the foreground until interrupted."""
    import uvicorn

    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=settings.access_log,
        log_level="info",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` sub-command's options: one per setting, its help the setting's description."""
    for name, field in ServingSettings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        if field.annotation is bool:
            parser.add_argument(flag, action="store_true", help=field.description)
        else:
            kind = field.annotation if field.annotation in (int, float) else str
            parser.add_argument(flag, type=kind, default=field.default, help=field.description)


def serve_command(args: argparse.Namespace) -> int:
    """Run ``ml-assets serve`` with its parsed options."""
    from pydantic import ValidationError

    try:
        settings = ServingSettings(
            **{name: getattr(args, name) for name in ServingSettings.model_fields}
        )
    except ValidationError as error:
        problems = [
            f"--{str(item['loc'][0]).replace('_', '-')}: {item['msg']}" for item in error.errors()
        ]
        raise ValueError("; ".join(problems)) from None
    serve(settings)
    return 0
