"""A model version's whole lineage: code, configuration, batches with sha256s, metrics, service.

Joins what three places keep: the model registry (version, sha256, metrics, parameters, gate
decision, alias history), the model card written with the model (git commit, packages, the
training set's batches with their sha256s) and the ingestion manifest (each landing file's
sha256). No Dagster here.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_assets.lib.core.layout import Layout
from ml_assets.lib.release.registry import ModelRegistry, ModelVersion

GATE_KEYS = ("gate", "gate_decision", "approval", "decision")


class LineageError(ValueError):
    """No model version matches the request; the message says what exists."""


def card_path(cards_dir: Any, fingerprint: str, suffix: str = ".json") -> Any:
    """Where the card of the model with ``fingerprint`` is kept (``cards_dir``: Path or UPath)."""
    return cards_dir / f"{fingerprint[:16]}{suffix}"


def gate_decision(version: ModelVersion) -> dict[str, Any] | None:
    """The approval gate's decision the registry kept with ``version``, if any."""
    for key in GATE_KEYS:
        if isinstance(version.extra.get(key), Mapping):
            return dict(version.extra[key])
    decisions = [v for v in version.extra.values() if isinstance(v, Mapping) and "passed" in v]
    return dict(decisions[0]) if decisions else None


def served_periods(history: Sequence[Mapping[str, Any]], version: str) -> list[dict[str, Any]]:
    """Each period an alias pointed at ``version``: alias, from, until (None: still), why."""
    periods, open_by_alias = [], {}
    for change in history:
        alias = change["alias"]
        if alias in open_by_alias and change.get("version") != version:
            open_by_alias.pop(alias)["until"] = change["time"]
        if change.get("version") == version and alias not in open_by_alias:
            period = {
                "alias": alias,
                "from": change["time"],
                "until": None,
                "reason": change.get("reason", ""),
                "actor": change.get("actor", ""),
            }
            periods.append(period)
            open_by_alias[alias] = period
    return periods


def registry_facts(registry: ModelRegistry, fingerprint: str) -> dict[str, Any] | None:
    """The registry's version of the model with ``fingerprint``, its gate and service, or None."""
    try:
        version = registry.find(fingerprint)
    except (OSError, ValueError):
        return None
    if version is None:
        return None
    return {
        "version": version.version,
        "gate": gate_decision(version),
        "served": served_periods(registry.history(), version.version),
    }


def resolve_version(registry: ModelRegistry, name: str | None) -> ModelVersion | None:
    """``name`` as a version or an alias; by default the champion, else the latest version."""
    versions = registry.versions()
    if name is None:
        champion = registry.alias("champion")
        if champion is not None:
            return registry.get(champion)
        return versions[-1] if versions else None
    aliased = registry.alias(name)
    try:
        return registry.get(aliased or name)
    except KeyError:
        known = [v.version for v in versions]
        raise LineageError(
            f"{registry.root}: no model version or alias {name!r}; versions: {known or 'none'}, "
            f"aliases: {sorted(registry.aliases()) or 'none'}"
        ) from None


def model_lineage(layout: Layout, name: str | None = None) -> dict[str, Any]:
    """The lineage of version ``name`` (see ``resolve_version``) in the registry ``layout`` names.

    Without a registered version (and none asked for), the current model's, from its card.
    """
    from upath import UPath

    registry, manifest = ModelRegistry(layout.registry), layout.manifest
    version = resolve_version(registry, name)
    if version is None:
        current = UPath(layout.current_card)
        if not current.exists():
            raise LineageError(
                f"{registry.root}: no registered model version, and no model card at {current}: "
                "materialize the graph first"
            )
        card = json.loads(current.read_text())
        return _from_card(card, _manifest_files(manifest))
    card_file = card_path(UPath(layout.model_cards), version.fingerprint)
    card = json.loads(card_file.read_text()) if card_file.exists() else {}
    lineage = _from_card(card, _manifest_files(manifest), batches=version.batches)
    lineage.update(
        version=version.version,
        sha256=version.sha256,
        fingerprint=version.fingerprint,
        created_at=version.created_at,
        task=version.task,
        training_set=version.data_version or lineage.get("training_set"),
        config_hash=version.config_hash or lineage.get("config_hash"),
        code_version=version.code_version,
        parameters=version.params or lineage.get("parameters", {}),
        metrics=version.metrics or lineage.get("metrics", {}),
        gate=gate_decision(version),
        served=served_periods(registry.history(), version.version),
    )
    for key in ("git_commit", "code_commit", "packages", "package_versions"):
        if key in version.extra:
            lineage.setdefault("code", {})[key] = version.extra[key]
    return lineage


def _manifest_files(manifest: Path) -> dict[str, dict[str, Any]]:
    try:
        body = json.loads(Path(manifest).read_text())
    except FileNotFoundError:
        return {}
    return {entry["batch"]: entry for entry in body.get("files", []) if entry.get("batch")}


def _from_card(
    card: Mapping[str, Any], landing: Mapping[str, Mapping[str, Any]], batches: Sequence[str] = ()
) -> dict[str, Any]:
    """What the card (and the ingestion manifest) say about a model's making."""
    recorded = {b["batch"]: b for b in card.get("training_data", {}).get("batches", [])}
    names = list(batches) or list(recorded)
    lineage = dict(card.get("lineage", {}))
    return {
        "version": card.get("model", {}).get("version"),
        "fingerprint": card.get("model", {}).get("fingerprint"),
        "code": {
            key: lineage[key]
            for key in ("code_commit", "code_tree", "package_versions")
            if key in lineage
        },
        "config_hash": lineage.get("config_hash"),
        "training_set": lineage.get("training_set"),
        "batches": [
            {
                "batch": batch,
                "file": (recorded.get(batch) or landing.get(batch) or {}).get("file"),
                "sha256": (recorded.get(batch) or landing.get(batch) or {}).get("sha256"),
                "rows": (recorded.get(batch) or {}).get("rows"),
                "in_landing_folder": batch in landing,
            }
            for batch in names
        ],
        "parameters": card.get("model", {}).get("params", {}),
        "search": card.get("model", {}).get("search", {}),
        "metrics": card.get("metrics", {}),
        "gate": card.get("gate"),
        "served": card.get("served", []),
    }


def lineage_text(lineage: Mapping[str, Any]) -> str:
    """The lineage as a person reads it in a terminal."""
    code = lineage.get("code", {})
    lines = [
        f"model {lineage.get('version') or '(not registered)'}  fingerprint "
        f"{lineage.get('fingerprint')}",
    ]
    if lineage.get("sha256"):
        lines.append(f"  file sha256   {lineage['sha256']}  (registered {lineage['created_at']})")
    commit = code.get("code_commit") or code.get("git_commit") or "unknown"
    lines += [
        f"  code          commit {commit} ({code.get('code_tree', 'unknown')})"
        + (f", code version {lineage['code_version']}" if lineage.get("code_version") else ""),
        f"  packages      {_pairs(code.get('package_versions') or code.get('packages') or {})}",
        f"  config        {lineage.get('config_hash')}",
        f"  training set  {lineage.get('training_set')}",
        "  batches:",
    ]
    for batch in lineage.get("batches", []):
        where = "" if batch.get("in_landing_folder") else "  (no longer in the landing folder)"
        lines.append(
            f"    {batch['batch']}  {batch.get('file')}  sha256 {batch.get('sha256')}  "
            f"rows {batch.get('rows')}{where}"
        )
    search = lineage.get("search") or {}
    if search.get("budget") is not None:
        lines.append(f"  search        budget {search['budget']} trials, {search['trials']} tried")
    if search.get("cut"):
        lines.append(f"  search cut    {search['cut']}")
    lines += [
        f"  parameters    {_pairs(lineage.get('parameters', {}))}",
        f"  metrics       {_pairs(lineage.get('metrics', {}), digits=4)}",
    ]
    gate = lineage.get("gate")
    lines.append(
        f"  gate          {'passed' if gate.get('passed') else 'failed'}: {gate.get('summary', '')}"
        if gate
        else "  gate          no decision recorded"
    )
    served = lineage.get("served", [])
    lines.append("  served:" if served else "  served        never")
    for period in served:
        lines.append(
            f"    {period['alias']} from {period['from']} until {period['until'] or 'now'}"
            + (f" ({period['reason']}, by {period['actor']})" if period.get("reason") else "")
        )
    return "\n".join(lines)


def _pairs(values: Mapping[str, Any], digits: int | None = None) -> str:
    def shown(value: Any) -> str:
        if digits is not None and isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    return ", ".join(f"{key}={shown(value)}" for key, value in values.items()) or "–"


def print_lineage(layout: Layout, name: str | None = None) -> str:
    """What ``ml-assets lineage [VERSION]`` prints for the project whose files ``layout`` places."""
    return lineage_text(model_lineage(layout, name))
