"""``model_approval`` (register the candidate, run the gate), ``production_model`` (the champion).

The gate is a blocking check on ``model_approval``: when it fails, the run has still registered
the candidate and kept it as ``failed_candidate`` (an alias nothing serves) with the reason, and
Dagster never starts ``production_model``, so nothing can move the champion. The run ends failed
(red), on purpose: a rejected retrain is news someone should read, and the run-failure alert
carries it.
"""

import dagster as dg
from pydantic import Field

from ml_assets.checks.deployment import APPROVAL_GATE, MODEL_APPROVAL, approval_gate_result
from ml_assets.constants import AUTOMATION, MODEL, TRAINED_MODEL, write_pool
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import ApprovalSection, Project
from ml_assets.resources.io_manager import STORAGE_FORMAT, process_version_metadata, step_process
from ml_assets.resources.registry import ModelRegistryResource
from ml_assets.section_config import SectionConfig, section_config

# Every registry writer (these two steps and the rollback job) shares one pool: give it a limit of
# 1 (UI: Deployment > Concurrency) where the registry has no lock of its own (object storage).
REGISTRY_POOL = write_pool("registry")


class ApprovalThresholds(SectionConfig):
    """What a candidate is held to before it may replace the champion (primary metric)."""

    def thresholds(self):
        """The plain thresholds the gate functions take."""
        from ml_assets.lib.release.approval_gate import GateThresholds

        return GateThresholds(**self.section().model_dump())


def approval_config(defaults: ApprovalSection) -> type[ApprovalThresholds]:
    """The launchpad's gate thresholds, their defaults from the project's ``approval`` section."""
    return section_config(defaults, "ApprovalConfig", base=ApprovalThresholds)


class ProductionConfig(dg.Config):
    """How a candidate that passed the gate reaches production."""

    canary: bool = Field(
        default=False,
        description="On: with a champion in place, the candidate becomes the challenger (served "
        "to `ml-assets serve --canary-fraction` of the request keys) and the champion keeps "
        "serving until `ml-assets promote`; with no champion yet it becomes champion.",
    )


def run_actor(context: dg.OpExecutionContext) -> str:
    """Who changes the registry from a run: the run, by id."""
    return f"dagster run {context.run_id}"


def build_model_approval(project: Project) -> dg.AssetsDefinition:
    """The gate asset of one project."""
    ApprovalConfig = approval_config(project.config.approval)

    @dg.asset(
        group_name=MODEL,
        pool=REGISTRY_POOL,
        code_version=source_version(__name__, extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"skops"},
        metadata={STORAGE_FORMAT: "report"},
        check_specs=[APPROVAL_GATE],
    )
    def model_approval(
        context: dg.AssetExecutionContext,
        config: ApprovalConfig,
        trained_model,
        evaluation_report: dict,
        features: BatchTable,
        registry: ModelRegistryResource,
    ):
        """The candidate registered as a new version and the gate's decision on it.

        Stored as ``storage/model_approval.json`` and ``.md``. A failed candidate becomes the
        registry's ``failed_candidate`` (never served), with the failed criteria as the reason.
        """
        from ml_assets.lib.core.threads import one_thread
        from ml_assets.lib.model.modeling import model_fingerprint
        from ml_assets.lib.release.approval_gate import decision_markdown
        from ml_assets.lib.release.deployment import (
            StaleEvaluation,
            check_provenance,
            review_candidate,
        )

        fingerprint = model_fingerprint(trained_model)
        try:
            check_provenance(evaluation_report, fingerprint, features.data_version)
        except StaleEvaluation as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        with one_thread():
            decision = review_candidate(
                registry.registry(),
                trained_model,
                evaluation_report,
                features.read(project.spec.scored_columns),
                project.spec,
                config.thresholds(),
                _record_fields(context, evaluation_report, features, project),
                run_actor(context),
            )
        markdown = decision_markdown(decision, decision["candidate_version"])
        yield dg.Output(
            {**decision, "markdown": markdown},
            metadata={
                "decision": dg.MetadataValue.md(markdown),
                "candidate_version": decision["candidate_version"],
                "passed": decision["passed"],
                "registry": registry.root,
            },
        )
        yield approval_gate_result(decision)

    return model_approval


def _record_fields(
    context: dg.AssetExecutionContext, report: dict, features: BatchTable, project: Project
) -> dict:
    """What the registry keeps of a version, from the evaluation and the training step."""
    event = context.instance.get_latest_materialization_event(TRAINED_MODEL)
    trained = event.asset_materialization if event else None
    metadata = dict(trained.metadata) if trained else {}
    if (
        metadata.get("fingerprint")
        and metadata["fingerprint"].value != (report["provenance"]["model_version"])
    ):
        metadata = {}  # the latest training is of another model: its facts are not this one's
    training = report.get("training") or {}
    environment = ("lock_hash", "packages_off_the_lock")
    facts = {name: metadata[name].value for name in environment if name in metadata}
    return {
        "metrics": report["metrics"],
        "params": training.get("best_params", {}),
        "data_version": features.data_version,
        "batches": list(features.batches),
        "code_version": (trained.tags or {}).get("dagster/code_version", "") if trained else "",
        "config_hash": project.config_hash,
        "task": project.spec.task,
        "extra": {
            "estimator": training.get("estimator"),
            "positive_label": report.get("positive_label"),
            "evaluated_at": report["provenance"].get("created_at"),
            "registered_by": run_actor(context),
            **facts,
        },
    }


def build_production_model(project: Project) -> dg.AssetsDefinition:
    """The champion asset of one project."""

    @dg.asset(
        group_name=MODEL,
        pool=REGISTRY_POOL,
        code_version=source_version(__name__),
        automation_condition=AUTOMATION,
        kinds={"skops"},
    )
    def production_model(
        context: dg.AssetExecutionContext,
        config: ProductionConfig,
        model_approval: dict,
        registry: ModelRegistryResource,
    ) -> dg.MaterializeResult:
        """The registry's ``champion``: moved to the candidate only when its gate passed.

        In canary mode the candidate becomes ``challenger`` and the champion stays.

        Its data version is the champion's sha256, so what depends on it is stale exactly when
        the champion changes. The registry holds the model; nothing else is stored.
        """
        from ml_assets.lib.release.deployment import promote
        from ml_assets.lib.release.registry import RegistryError

        try:
            promotion = promote(
                registry.registry(), model_approval, run_actor(context), canary=config.canary
            )
        except RegistryError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        context.log.info(promotion.message())
        return dg.MaterializeResult(
            metadata={
                **champion_metadata(promotion.version, promotion.previous, registry.root),
                **_version_metadata(context, registry),
                "promotion_mode": "canary" if config.canary else "direct",
                "challenger": promotion.challenger.version if promotion.challenger else "none",
            },
            data_version=dg.DataVersion(promotion.version.sha256),
        )

    return production_model


def _version_metadata(context: dg.AssetExecutionContext, registry: ModelRegistryResource) -> dict:
    """What made this champion, as the IO manager records it for the assets it stores."""
    from ml_assets.lib.core.versioning import settings_hash

    event = context.instance.get_latest_materialization_event(MODEL_APPROVAL)
    approval = event.asset_materialization.tags.get("dagster/data_version") if event else None
    return {
        **process_version_metadata(
            settings_hash(registry.settings.model_dump()),
            {MODEL_APPROVAL.to_user_string(): approval or "unknown"},
        ),
        **step_process(),
    }


def champion_metadata(version, previous: str | None, root: str) -> dict:
    """What the UI shows of the champion after a promotion or a rollback."""
    return {
        "champion": version.version,
        "previous_champion": previous or "none",
        "sha256": version.sha256,
        "fingerprint": version.fingerprint,
        "trained_on": dg.MetadataValue.json(
            {"data_version": version.data_version, "batches": version.batches}
        ),
        "metrics": dg.MetadataValue.json(version.metrics),
        "registry": root,
    }
