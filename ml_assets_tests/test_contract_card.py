"""The contract card: the code location loads without pandas, and a stale card stops a run."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ml_assets.lib.project_config import DEMO_CONFIG, load_project
from ml_assets.resources import contract_card
from ml_assets.resources.contract_card import (
    ContractCard,
    assert_card_current,
    card_key,
    compute_card,
    load_active_project,
)

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "pandera", "numpy", "pyarrow", "sklearn", "skops", "fsspec")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(contract_card.CACHE_ENV, str(folder))
    monkeypatch.setattr(contract_card, "_VERIFIED", set())
    return folder


def own_config(tmp_path: Path, contract_text: str | None = None) -> Path:
    """A copy of the demo configuration with its contract as a Pandera YAML file beside it."""
    demo = load_project(DEMO_CONFIG)
    (tmp_path / "contract.yaml").write_text(contract_text or demo.contract.to_yaml())
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["contract"] = {"schema_file": "contract.yaml"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_card_read_back_equals_the_card_computed_from_the_contract(cache: Path) -> None:
    project = load_project(DEMO_CONFIG)
    card = compute_card(project, card_key(DEMO_CONFIG))
    assert ContractCard.from_json(card.to_json()) == card
    assert card.validated.name == "DemoRecords"
    columns = {column.name: column for column in card.validated.table_schema.columns}
    assert columns["category"].type == "arrow_string"
    assert columns["numeric1"].constraints.nullable
    assert card.columns.data_columns == ["numeric1", "numeric2", "category", "target"]


def test_the_second_load_reads_the_card_and_gets_the_same_project(cache: Path) -> None:
    first, card = load_active_project()
    assert list(cache.iterdir()) == [contract_card.card_path(first.path, card.key)]
    second, cached = load_active_project()
    assert cached == card
    assert "contract" not in second.__dict__  # the contract itself was not loaded
    assert second.spec == first.spec and second.columns == first.columns


def test_the_key_follows_the_config_and_the_contract_source(tmp_path: Path, cache: Path) -> None:
    path = own_config(tmp_path)
    before = card_key(path)
    assert card_key(path) == before
    contract = tmp_path / "contract.yaml"
    contract.write_text(contract.read_text().replace("equal_to: 100.0", "equal_to: 90.0"))
    assert card_key(path) != before
    changed = card_key(path)
    config = yaml.safe_load(path.read_text())
    config["dataset"]["test_fraction"] = 0.3
    path.write_text(yaml.safe_dump(config))
    assert card_key(path) != changed


def test_a_stale_card_stops_the_run_and_is_removed(tmp_path: Path, cache: Path) -> None:
    path = own_config(tmp_path)
    project = load_project(path)
    card = compute_card(project, card_key(path))
    stored = contract_card.card_path(path, card.key)
    stored.parent.mkdir(parents=True)
    stored.write_text(card.to_json())
    assert_card_current(project, card)  # the contract the card was made from passes
    contract_card._VERIFIED.clear()
    contract = tmp_path / "contract.yaml"
    contract.write_text(contract.read_text().replace("- A", "- Z"))  # edited after loading
    with pytest.raises(dg.Failure, match="changed since this code location was loaded"):
        assert_card_current(load_project(path), card)
    assert not stored.exists()


def test_a_new_card_replaces_the_same_configurations_older_one(
    tmp_path: Path, cache: Path, monkeypatch
) -> None:
    path = own_config(tmp_path)
    monkeypatch.setenv("ML_ASSETS_CONFIG", str(path))
    _, first = load_active_project()
    contract = tmp_path / "contract.yaml"
    contract.write_text(contract.read_text().replace("equal_to: 100.0", "equal_to: 90.0"))
    _, second = load_active_project()
    assert first.key != second.key
    assert list(cache.iterdir()) == [contract_card.card_path(path, second.key)]


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(contract_card.CACHE_ENV, str(blocker / "cache"))
    project, card = load_active_project()
    assert card.columns == project.columns


def test_loading_the_code_location_imports_no_data_library(tmp_path: Path) -> None:
    """With a current card, definitions load without data libraries or fsspec."""
    script = (
        "import sys, ml_assets.definitions as d; d.defs.get_repository_def(); "
        f"print([name for name in {HEAVY!r} if name in sys.modules])"
    )
    env = {**os.environ, contract_card.CACHE_ENV: str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-2000:]
    assert runs[0].stdout.strip() != "[]"  # the first load builds the card from the contract
    assert runs[1].stdout.strip() == "[]", runs[1].stdout
