"""Where everything under the data folder lives: the one module that spells a folder's name.

Local files (landing, ingestion records, alerts, the serving log, scoring and labels folders) stay
in ``data_dir``; artifacts (the IO manager's values, the batch store, the feature store, drift
caches, model cards) live under ``storage``, which ``storage_url`` may move to any fsspec URL; the
registry is ``<data_dir>/registry`` unless ``registry_dir`` names another folder or URL. Storage
and registry places are text, not ``Path``: a ``Path`` folds the ``//`` of ``s3://bucket``.
"""

import os
from dataclasses import dataclass, replace
from pathlib import Path

DATA_DIR_ENV = "ML_ASSETS_DATA_DIR"
STORAGE_URL_ENV = "ML_ASSETS_STORAGE_URL"
REGISTRY_DIR_ENV = "ML_ASSETS_REGISTRY_DIR"

LANDING = "landing"
SCORING = "scoring"
LABELS = "labels"
SERVING_LOG = "serving/predictions.jsonl"
ALERTS_FILE = "alerts.jsonl"
ALERT_STATE_FILE = "alert_state.json"
_STORAGE = "storage"
_REGISTRY = "registry"
_INGESTION = "ingestion"
_MANIFEST = "manifest.json"
_REJECTED = "rejected"
_BATCHES = "batches"
_FEATURE_STORE = "feature_store"
_PREDICTIONS = "predictions"
_DRIFT = "drift"
_MODEL_CARDS = "model_cards"
_PROFILES = "profiles"
_COMPARISONS = "batches"
_RETRAINING_MARKER = "retraining_due.json"
# The model_card asset's own stored value: the IO manager names it after the asset key.
_CURRENT_CARD = "model_card.json"


class LayoutError(ValueError):
    """A configured sub-path would leave the data folder."""


@dataclass(frozen=True)
class Layout:
    """Every place the pipeline, the CLI and the server read or write, from four settings."""

    data_dir: str
    storage_url: str = ""
    registry_dir: str = ""
    landing_subdir: str = LANDING

    @classmethod
    def from_environment(
        cls, data_dir: str | os.PathLike, landing_subdir: str = LANDING
    ) -> "Layout":
        """The layout a process outside a run sees: ``$ML_ASSETS_*`` over the configured folder."""
        return cls(
            data_dir=os.environ.get(DATA_DIR_ENV) or str(data_dir),
            storage_url=os.environ.get(STORAGE_URL_ENV, ""),
            registry_dir=os.environ.get(REGISTRY_DIR_ENV, ""),
            landing_subdir=landing_subdir,
        )

    def with_registry(self, registry_dir: str | None) -> "Layout":
        """This layout with the registry at ``registry_dir`` (None or empty: this layout's)."""
        return replace(self, registry_dir=registry_dir or self.registry_dir)

    def inside(self, subpath: str, setting: str) -> Path:
        """``subpath`` under the data folder; a LayoutError naming ``setting`` if it leaves it."""
        if Path(subpath).is_absolute() or ".." in Path(subpath).parts:
            raise LayoutError(f"{setting} {subpath!r} must stay inside data_dir")
        return Path(self.data_dir) / subpath

    @property
    def landing(self) -> Path:
        """The folder the pipeline reads data files from (which may not exist yet)."""
        return self.inside(self.landing_subdir, "landing_subdir")

    @property
    def ingestion(self) -> Path:
        """The landing folder's manifest and the reasons of rejected files; the store's lock."""
        return Path(self.data_dir) / _INGESTION

    @property
    def manifest(self) -> Path:
        """Each landing file's batch, sha256 and status, as of the last refresh."""
        return self.ingestion / _MANIFEST

    @property
    def rejected(self) -> Path:
        """One ``<file>.reason.json`` per landing file left out."""
        return self.ingestion / _REJECTED

    @property
    def alerts(self) -> Path:
        """The JSON-lines file that receives every alert."""
        return Path(self.data_dir) / ALERTS_FILE

    @property
    def alert_state(self) -> Path:
        """The last state of each alerting condition, so one condition alerts once in a row."""
        return Path(self.data_dir) / ALERT_STATE_FILE

    @property
    def serving_log(self) -> Path:
        """The online service's prediction log."""
        return Path(self.data_dir) / SERVING_LOG

    @property
    def scoring(self) -> Path:
        """Files waiting for batch scoring (by default; the scoring asset's config may say else)."""
        return Path(self.data_dir) / SCORING

    @property
    def labels(self) -> Path:
        """Label files for live performance and A/B tests (by default, as for ``scoring``)."""
        return Path(self.data_dir) / LABELS

    @property
    def storage(self) -> str:
        """Artifacts: the IO manager's base, and every store below."""
        return self.storage_url.rstrip("/") or f"{str(self.data_dir).rstrip('/')}/{_STORAGE}"

    @property
    def batches(self) -> str:
        """The batch store: per-batch tables and records."""
        return f"{self.storage}/{_BATCHES}"

    @property
    def feature_store(self) -> str:
        """The offline feature store."""
        return f"{self.storage}/{_FEATURE_STORE}"

    @property
    def predictions(self) -> str:
        """Batch predictions, per scored batch."""
        return f"{self.storage}/{_PREDICTIONS}"

    @property
    def drift(self) -> str:
        """Cached reference profiles and batch comparisons, and the retraining marker."""
        return f"{self.storage}/{_DRIFT}"

    @property
    def model_cards(self) -> str:
        """One card per model version, by fingerprint."""
        return f"{self.storage}/{_MODEL_CARDS}"

    @property
    def current_card(self) -> str:
        """The card of the model last evaluated (the ``model_card`` asset's value)."""
        return f"{self.storage}/{_CURRENT_CARD}"

    @property
    def drift_profiles(self) -> str:
        """Reference profiles, one per model and training set."""
        return f"{self.drift}/{_PROFILES}"

    @property
    def drift_comparisons(self) -> str:
        """One batch against one profile, computed once."""
        return f"{self.drift}/{_COMPARISONS}"

    @property
    def retraining_marker(self) -> str:
        """Written by the drift report when retraining is due; read by the retraining sensor."""
        return f"{self.drift}/{_RETRAINING_MARKER}"

    @property
    def registry(self) -> str:
        """The model registry's folder or URL."""
        return self.registry_dir or f"{str(self.data_dir).rstrip('/')}/{_REGISTRY}"
