"""The active project and its contract as the code location sees them, cached between loads.

The typed contract shapes the code location (column names, the Dagster types and their schema
in the UI), but building it imports pandas and Pandera, which would cost more than half a second
on every CLI call, run and UI reload. So what the definitions need is computed once from the
real contract, stored as a card keyed by everything it was computed from, and read back on later
loads. Any change to the configuration, the contract's source, this package's ``lib`` code or the
library versions changes the key. Steps still validate with the real contract, and
``assert_card_current`` stops a run whose card no longer matches it (a contract module that reads
values from another module can change without changing its own source).
"""

import contextlib
import hashlib
import importlib.metadata
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg

from ml_assets.lib.project_config import (
    ContractColumns,
    Project,
    ProjectConfig,
    active_config_path,
    build_project,
    contract_sources,
    read_config,
)

CACHE_ENV = "ML_ASSETS_CACHE_DIR"
_LIBRARIES = ("dagster", "dagster-pandera", "pandera", "pandas", "pyarrow")
_SHAPING_CODE = Path(__file__).resolve().parents[1] / "lib"
_VERIFIED: set[str] = set()  # card keys this process has compared with the real contract


@dataclass(frozen=True)
class TypeCard:
    """What the UI shows of a Dagster type made from a Pandera schema."""

    name: str
    description: str | None
    table_schema: dg.TableSchema


@dataclass(frozen=True)
class ContractCard:
    """Everything the definitions need from the contract, and the key it was computed under."""

    key: str
    columns: ContractColumns
    validated: TypeCard
    features: TypeCard

    def to_json(self) -> str:
        """The card as JSON (table schemas in Dagster's own serialisation)."""
        return json.dumps(
            {
                "key": self.key,
                "columns": asdict(self.columns),
                **{
                    name: {
                        "name": card.name,
                        "description": card.description,
                        "table_schema": dg.serialize_value(card.table_schema),
                    }
                    for name, card in (("validated", self.validated), ("features", self.features))
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> "ContractCard":
        """Read a card written by ``to_json``."""
        data = json.loads(text)
        columns = data["columns"]
        return cls(
            key=data["key"],
            columns=ContractColumns(
                kinds=dict(columns["kinds"]),
                nullable=tuple(columns["nullable"]),
                strict=bool(columns["strict"]),
            ),
            **{
                name: TypeCard(
                    name=data[name]["name"],
                    description=data[name]["description"],
                    table_schema=dg.deserialize_value(data[name]["table_schema"], dg.TableSchema),
                )
                for name in ("validated", "features")
            },
        )


def cache_dir() -> Path:
    """``$ML_ASSETS_CACHE_DIR``, else ``ml_assets`` in the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ml_assets"


def card_key(config_path: Path, config: ProjectConfig | None = None) -> str:
    """Hash of the configuration, the contract's source, the ``lib`` code and library versions."""
    digest = hashlib.sha256()
    config = config or read_config(config_path)
    sources = [config_path, *contract_sources(config.contract, config_path)]
    for path in [*sources, *sorted(_SHAPING_CODE.glob("*.py"))]:
        digest.update(f"{path}\0".encode() + path.read_bytes())
    for library in _LIBRARIES:
        digest.update(f"{library}=={importlib.metadata.version(library)}\n".encode())
    return digest.hexdigest()


def compute_card(project: Project, key: str) -> ContractCard:
    """Build the card from the real contract (imports pandas, Pandera and dagster-pandera)."""
    from dagster_pandera import pandera_schema_to_dagster_type

    from ml_assets.lib.contract import stored_schema
    from ml_assets.lib.features import features_schema

    def type_card(schema: object) -> TypeCard:
        typed = pandera_schema_to_dagster_type(stored_schema(schema))
        return TypeCard(typed.unique_name, typed.description, typed.metadata["schema"].schema)

    return ContractCard(
        key=key,
        columns=ContractColumns.of(project.contract),
        validated=type_card(project.contract),
        features=type_card(features_schema(project.contract, project.spec)),
    )


def load_active_project() -> tuple[Project, ContractCard]:
    """The active project, with its card from the cache when one matches, else computed now."""
    path = active_config_path()
    config = read_config(path)
    key = card_key(path, config)
    cached = card_path(path, key)
    try:
        card = ContractCard.from_json(cached.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        card = None
    if card is not None and card.key == key:
        return build_project(path, config, card.columns), card
    project = build_project(path, config)
    card = compute_card(project, key)
    _store(cached, card)
    return project, card


def assert_card_current(project: Project, card: ContractCard) -> None:
    """Fail when the contract no longer matches the card this code location was built from."""
    if card.key in _VERIFIED:
        return
    if compute_card(project, card.key) != card:
        stale = card_path(project.path, card.key)
        stale.unlink(missing_ok=True)
        raise dg.Failure(
            description=(
                f"the data contract of {project.path} changed since this code location was "
                f"loaded (its cached description {stale} is out of date and was removed); "
                "reload the code location and run again"
            ),
            allow_retries=False,
        )
    _VERIFIED.add(card.key)


def card_path(config_path: Path, key: str) -> Path:
    """Where the card of ``config_path`` under ``key`` is cached."""
    config_id = hashlib.sha256(str(config_path).encode()).hexdigest()[:16]
    return cache_dir() / f"contract-{config_id}-{key[:32]}.json"


def _store(path: Path, card: ContractCard) -> None:
    """Write the card, replacing the same configuration's older ones; failing only costs speed."""
    from ml_assets.lib.storage import atomic_write_text

    with contextlib.suppress(OSError):
        for older in path.parent.glob(f"{path.name.rsplit('-', 1)[0]}-*.json"):
            older.unlink(missing_ok=True)
        atomic_write_text(path, card.to_json())
