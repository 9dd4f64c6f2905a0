"""The ``model_card`` asset: a card per model version, in Markdown and HTML, shown on its page."""

import dagster as dg

from ml_assets.assets.evaluation import _model_metadata
from ml_assets.checks.deployment import MODEL_APPROVAL
from ml_assets.constants import AUTOMATION, MODEL, write_pool
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.registry import ModelRegistryResource
from ml_assets.resources.settings import PipelineSettings, batch_store

LINEAGE_KEYS = ("code_commit", "code_tree", "config_hash", "package_versions", "training_set")


def build_model_card(project: Project) -> dg.AssetsDefinition:
    """The model-card asset of one project."""

    @dg.asset(
        group_name=MODEL,
        # After the gate: the card of a registered candidate carries its version and decision.
        deps=[MODEL_APPROVAL],
        pool=write_pool("model_card"),
        # The statistical checks' findings are on the card: their module is named, lib's are found.
        code_version=source_version(
            __name__,
            "ml_assets.checks.statistics",
            extra=f"{project.spec!r}|{project.config.dataset.description!r}",
        ),
        automation_condition=AUTOMATION,
        kinds={"markdown", "html"},
        metadata={STORAGE_FORMAT: "report"},
    )
    def model_card(
        context: dg.AssetExecutionContext,
        evaluation_report: dict,
        features: BatchTable,
        settings: PipelineSettings,
        registry: ModelRegistryResource,
    ):
        """The evaluated model's card: use, inputs, output, data, metrics, gate, limits, lineage.

        Stored as ``storage/model_card.{json,md}`` and, per model, under
        ``storage/model_cards/<fingerprint>.{json,md,html}``.
        """
        import json

        from upath import UPath

        from ml_assets.checks.statistics import statistical_findings
        from ml_assets.lib.core.storage import atomic_write_text
        from ml_assets.lib.model.model_card import (
            card_html,
            card_markdown,
            event_time_span,
            model_card_facts,
        )
        from ml_assets.lib.release.lineage import card_path, registry_facts

        provenance = evaluation_report["provenance"]
        if provenance["data_version"] != features.data_version:
            raise dg.Failure(
                description=f"evaluation_report judged training set {provenance['data_version']}, "
                f"but features now holds {features.data_version}: rematerialize trained_model and "
                "evaluation_report first",
                allow_retries=False,
            )
        fingerprint = provenance["model_version"]
        trained = _model_metadata(context, fingerprint)
        lineage = {
            "fingerprint": fingerprint,
            "evaluated_at": provenance["created_at"],
        }
        lineage |= {key: trained[key].value for key in LINEAGE_KEYS if key in trained}
        lineage.setdefault("training_set", provenance["data_version"])
        registered = registry_facts(registry.registry(), fingerprint)
        card = model_card_facts(
            spec=project.spec,
            contract=project.columns,
            description=project.config.dataset.description,
            report=evaluation_report,
            records=features.records,
            lineage=lineage,
            statistics=statistical_findings(context.instance, project, features.data_version),
            registry=registered,
            event_range=event_time_span(
                batch_store(settings), features, project.config.feature_store.event_timestamp
            ),
        )
        markdown, page = card_markdown(card), card_html(card)

        per_model = card_path(UPath(settings.layout.model_cards), fingerprint)
        atomic_write_text(per_model, json.dumps(card, indent=2, sort_keys=True, default=str))
        atomic_write_text(per_model.with_suffix(".md"), markdown)
        atomic_write_text(per_model.with_suffix(".html"), page)
        return dg.Output(
            {**card, "markdown": markdown},
            metadata={
                "card": dg.MetadataValue.md(markdown),
                "html": dg.MetadataValue.path(str(per_model.with_suffix(".html"))),
                "model_version": fingerprint,
                "registry_version": (registered or {}).get("version") or "not registered",
                "limitations": len(card["limitations"]),
            },
        )

    return model_card
