"""The ``rollback`` job: point the champion back at a named or the previous version from the UI."""

import dagster as dg
from pydantic import Field

from ml_assets.assets.deployment import REGISTRY_POOL, champion_metadata, run_actor
from ml_assets.checks.deployment import PRODUCTION_MODEL
from ml_assets.resources.registry import ModelRegistryResource


class RollbackConfig(dg.Config):
    """Which version becomes the champion again, and why (kept in the registry's history)."""

    to: str = Field(
        default="",
        description="The version to make champion (e.g. v0002); empty: the previous champion.",
    )
    reason: str = Field(default="rolled back from the Dagster UI", description="Why.")


@dg.op(pool=REGISTRY_POOL)
def rollback_champion(
    context: dg.OpExecutionContext, config: RollbackConfig, registry: ModelRegistryResource
) -> None:
    """Move ``champion``; the change is recorded on production_model and in the history."""
    from ml_assets.lib.release.registry import RegistryError
    from ml_assets.lib.release.rollback import rollback

    store = registry.registry()
    try:
        result = rollback(store, config.to or None, reason=config.reason, actor=run_actor(context))
    except (RegistryError, KeyError, ValueError) as error:
        raise dg.Failure(description=str(error).strip("'\""), allow_retries=False) from error
    context.log.info(result.message())
    context.log_event(
        dg.AssetMaterialization(
            asset_key=PRODUCTION_MODEL,
            description=result.message(),
            metadata={
                **champion_metadata(store.get(result.current), result.previous, registry.root),
                "action": "rollback",
                "reason": result.reason,
            },
        )
    )


@dg.job(
    name="rollback",
    description="Point the champion back at a named version, or at the one it replaced; "
    "who, what, when and why go to the registry's history.",
)
def rollback_job() -> None:
    """One step: the rollback."""
    rollback_champion()
