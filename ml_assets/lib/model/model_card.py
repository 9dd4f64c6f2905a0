"""A model card per model version: what it is for, what it reads and returns, how it was made.

The card is built as plain facts (JSON-able: intended use, input schema from the contract,
output, training data, metrics with baselines and slices, the gate's decision, known
limitations, lineage) and rendered from the same sections as Markdown and as a small standalone
HTML page. No Dagster here.
"""

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.contract.summary import SOURCE_SUMMARIES, ContractColumns
from ml_assets.lib.core.markdown import cell, table
from ml_assets.lib.data.batch_records import BatchRecord, BatchTable

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Section:
    """A titled part of the card: paragraphs (str), bullet lists (list) and tables (Table)."""

    title: str
    blocks: tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """Rows under named columns."""

    rows: Rows
    columns: tuple[str, ...] = ()


def column_roles(spec: DatasetSpec, contract: ContractColumns) -> dict[str, str]:
    """What the model does with each contract column."""
    roles = {}
    for name in contract.kinds:
        if name in SOURCE_SUMMARIES:
            roles[name] = "source (added by the pipeline)"
        elif name == spec.target:
            roles[name] = "target"
        elif name == spec.key:
            roles[name] = "key (not a feature)"
        elif name in spec.input_columns:
            roles[name] = "feature"
        else:
            roles[name] = "not used by the model"
    return roles


def model_card_facts(
    *,
    spec: DatasetSpec,
    contract: ContractColumns,
    description: str | None,
    report: Mapping[str, Any],
    records: Sequence[BatchRecord],
    lineage: Mapping[str, Any],
    statistics: Sequence[str] = (),
    registry: Mapping[str, Any] | None = None,
    event_range: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the card says, as plain data (what ``ml-assets lineage`` reads back too).

    ``event_range`` (from, to, basis) is the training rows' event-time span when the dataset has
    an event-time column; without it the card gives the span of the batches' arrivals.
    """
    roles = column_roles(spec, contract)
    training = dict(report.get("training") or {})
    fairness = report.get("fairness", {})
    arrivals = sorted(record.processed_at for record in records if record.processed_at)
    too_small = {
        column: dict(slices.get("too_small", {}))
        for column, slices in fairness.items()
        if slices.get("too_small")
    }
    limitations = [
        f"{column}: group {group!r} has {rows} held-out rows, too few to judge "
        f"(fewer than {fairness[column]['min_rows']})"
        for column, groups in too_small.items()
        for group, rows in groups.items()
    ]
    limitations += [f"statistical check {finding}" for finding in statistics]
    verdict = report.get("verdict") or {}
    if verdict.get("verdict") in ("worse", "within noise"):
        limitations.append(
            f"{_compared(verdict)} baseline on {verdict['metric']} "
            f"(difference {verdict['difference']:+.4f}): it adds little or nothing over it"
        )
    if (training.get("search") or {}).get("cut"):
        limitations.append(f"search cut short: {training['search']['cut']}")
    if training.get("features_dropped"):
        limitations.append(f"inputs dropped by feature selection: {training['features_dropped']}")
    return {
        "model": {
            "fingerprint": lineage.get("fingerprint"),
            "version": (registry or {}).get("version"),
            "estimator": training.get("estimator"),
            "params": training.get("best_params", {}),
            "search": training.get("search") or {},
        },
        "dataset": spec.name,
        "intended_use": description
        or f"Predicts {spec.target!r} ({spec.task}) for rows shaped like the {spec.name!r} "
        "contract; no intended use is written in the configuration (dataset.description).",
        "inputs": [
            {
                "column": column.name,
                "type": column.dtype,
                "nullable": column.nullable,
                "rules": ", ".join(column.rules) or "–",
                "role": roles[column.name],
                "description": column.description or "–",
            }
            for column in contract.columns
        ],
        "output": _output(spec, report),
        "training_data": {
            "batches": [
                {
                    "batch": record.batch,
                    "file": record.file,
                    "sha256": record.sha256,
                    "rows": record.rows_valid,
                    "arrived": record.processed_at,
                }
                for record in records
            ],
            "rows": dict(report.get("rows", {})),
            "date_range": dict(event_range)
            if event_range
            else {
                "from": arrivals[0] if arrivals else None,
                "to": arrivals[-1] if arrivals else None,
                "basis": "batch arrival",
            },
        },
        "primary_metric": report.get("primary_metric"),
        "metrics": dict(report.get("metrics", {})),
        "baselines": dict(report.get("baselines", {})),
        "verdict": verdict,
        "slices": {
            column: {
                "groups": slices.get("groups", {}),
                "largest_gap": slices.get("largest_gap", {}),
                "too_small": slices.get("too_small", {}),
            }
            for column, slices in fairness.items()
        },
        "gate": (registry or {}).get("gate"),
        "served": list((registry or {}).get("served", [])),
        "limitations": limitations,
        "lineage": dict(lineage),
    }


def _compared(verdict: Mapping[str, Any]) -> str:
    """The verdict in words: better than, within noise of, or worse than the baseline."""
    word = "of" if verdict.get("verdict") == "within noise" else "than"
    return f"{verdict.get('verdict')} {word} the {verdict.get('against')}"


def _output(spec: DatasetSpec, report: Mapping[str, Any]) -> dict[str, Any]:
    if spec.task == "regression":
        return {"predict": f"a number: the expected {spec.target!r}"}
    out = {
        "predict": f"a label of {spec.target!r}, one of {report.get('classes')}",
        "predict_proba": "one probability per class, in that order",
    }
    if spec.task == "binary":
        out["positive_label"] = report.get("positive_label")
    return out


def card_sections(card: Mapping[str, Any]) -> tuple[list[Section], str]:
    """The card's sections in reading order (what both renderings show), and the model's name."""
    model, data, lineage = card["model"], card["training_data"], card["lineage"]
    name = model.get("version") or f"model {str(model.get('fingerprint'))[:16]}"
    date_range = data["date_range"]
    metric_rows = [
        {"model": label, **scores}
        for label, scores in {"this model": card["metrics"], **card["baselines"]}.items()
    ]
    verdict = card["verdict"]
    slices = []
    for column, found in card["slices"].items():
        rows = [{"group": group, **scores} for group, scores in found["groups"].items()]
        gap = found["largest_gap"]
        slices += [
            f"Slices by {column!r}: largest gap {gap.get('gap', 0):.3f} in {gap.get('metric')} "
            f"({gap.get('worst')} against {gap.get('best')}).",
            Table(rows),
        ]
    gate = card.get("gate")
    gate_blocks: tuple[Any, ...] = (
        (
            f"{'Passed' if gate.get('passed') else 'Failed'}: {gate.get('summary', '')}",
            Table(list(gate.get("criteria", []))),
        )
        if gate
        else ("Not judged: this model is not in the registry (or its gate left no decision).",)
    )
    served = [
        f"{entry['alias']} from {entry['from']} until {entry.get('until') or 'now'}"
        for entry in card.get("served", [])
    ]
    return [
        Section("Intended use", (card["intended_use"],)),
        Section(
            "Input schema",
            (
                "Every column of the data contract, with the rules a row must meet to be used.",
                Table(
                    card["inputs"], ("column", "type", "nullable", "rules", "role", "description")
                ),
            ),
        ),
        Section("Output", ([f"{key}: {value}" for key, value in card["output"].items()],)),
        Section(
            "Training data",
            (
                f"{len(data['batches'])} batch(es); {data['rows'].get('train')} rows trained on, "
                f"{data['rows'].get('test')} held out; {date_range['basis']} from "
                f"{date_range['from']} to {date_range['to']}.",
                Table(data["batches"], ("batch", "file", "sha256", "rows", "arrived")),
            ),
        ),
        Section(
            "Metrics",
            (
                f"Held-out {card['primary_metric']} against the baselines on the same split; "
                + (f"verdict: {_compared(verdict)}." if verdict else "no verdict."),
                Table(metric_rows),
                *slices,
            ),
        ),
        Section("Gate decision", gate_blocks),
        Section("Known limitations", (card["limitations"] or ["none found"],)),
        Section(
            "Lineage",
            (
                [f"{key}: {_text(value)}" for key, value in lineage.items()]
                + [f"model parameters: {_text(model.get('params'))}"]
                + ([f"served as {line}" for line in served] or ["served: not yet"]),
            ),
        ),
    ], name


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown (the asset page shows it)."""
    sections, name = card_sections(card)
    lines = [f"# Model card: {card['dataset']} {name}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append(table(block.rows, list(block.columns) or None))
            elif isinstance(block, list):
                lines += [f"- {item}" for item in block]
            else:
                lines.append(str(block))
            lines.append("")
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:68rem;margin:2rem auto;padding:0 1rem;"
    "color:#1f2933}h1{border-bottom:2px solid #3b6ea5}h2{color:#3b6ea5;margin-top:2rem}"
    "table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}"
    "th,td{border:1px solid #cbd2d9;padding:.25rem .5rem;text-align:left}"
    "th{background:#f0f4f8}code{font-size:.85rem}"
)


def card_html(card: Mapping[str, Any]) -> str:
    """The card as a standalone HTML page (no scripts, no outside resources)."""
    sections, name = card_sections(card)
    title = html.escape(f"Model card: {card['dataset']} {name}")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_html_table(block))
            elif isinstance(block, list):
                items = "".join(f"<li>{html.escape(str(item))}</li>" for item in block)
                parts.append(f"<ul>{items}</ul>")
            else:
                parts.append(f"<p>{html.escape(str(block))}</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _html_table(block: Table) -> str:
    if not block.rows:
        return "<p>none</p>"
    columns = list(block.columns) or list(block.rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {item}" for key, item in value.items()) or "–"
    if isinstance(value, Iterable) and not isinstance(value, str):
        return ", ".join(str(item) for item in value) or "–"
    return str(value)


def event_time_span(store: Any, features: BatchTable, column: str | None) -> dict[str, str] | None:
    """The span of the event-time ``column`` over the training batches, or None without one.

    Read from the batches' validated rows in the batch ``store``, one column each.
    """
    if column is None or not features.records:
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    spans = []
    for batch in features.batches:
        path = store.folder(features.version, batch) / "validated_data.parquet"
        with path.open("rb") as handle:
            spans.append(pc.min_max(pq.read_table(handle, columns=[column]).column(column)))
    lows = [s["min"].as_py() for s in spans if s["min"].is_valid]
    highs = [s["max"].as_py() for s in spans if s["max"].is_valid]
    if not lows:
        return None
    return {"from": str(min(lows)), "to": str(max(highs)), "basis": f"event time ({column})"}
