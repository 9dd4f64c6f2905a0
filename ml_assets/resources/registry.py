"""The model registry as a resource: where the settings' layout puts it, or ``registry_dir``."""

import os
from typing import Any

import dagster as dg
from pydantic import Field

from ml_assets.lib.core.layout import REGISTRY_DIR_ENV, Layout
from ml_assets.resources.settings import PipelineSettings


class ModelRegistryResource(dg.ConfigurableResource):
    """Every registered model version, the ``champion``/``challenger`` aliases and their history."""

    settings: PipelineSettings
    registry_dir: str | None = Field(
        default=None,
        description="Folder or fsspec URL of the registry (e.g. s3://bucket/registry); empty: "
        f"{Layout('<data_dir>').registry} (${REGISTRY_DIR_ENV} sets it for every run).",
    )

    @property
    def layout(self) -> Layout:
        """The settings' layout, with this registry's folder."""
        return self.settings.layout.with_registry(self.registry_dir)

    @property
    def root(self) -> str:
        """The registry's folder or URL."""
        return self.layout.registry

    def registry(self) -> Any:
        """The ``ModelRegistry`` at ``root``."""
        from ml_assets.lib.release.registry import ModelRegistry

        return ModelRegistry(self.root)


def registry_resource(settings: object) -> ModelRegistryResource:
    """The definitions' registry resource, its folder from ``$ML_ASSETS_REGISTRY_DIR`` if set."""
    folder = dg.EnvVar(REGISTRY_DIR_ENV) if os.environ.get(REGISTRY_DIR_ENV) else None
    return ModelRegistryResource(settings=settings, registry_dir=folder)
