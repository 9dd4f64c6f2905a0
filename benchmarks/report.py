"""Print a benchmark's JSON as tables, or compare two of them (e.g. two commits).

python benchmarks/report.py benchmarks/results/run.json
python benchmarks/report.py benchmarks/results/before.json benchmarks/results/after.json
"""

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The bare reference names each stage after its step; Dagster names a freshness check's step
# with a hash, so that stage is named after the check: <asset>:freshness_check.
FRESHNESS_STEP = "freshness_check_"


def bare_stage(name: str, step: dict[str, Any]) -> str:
    """The bare reference's stage of the step ``name`` (``step``: its figures and assets)."""
    if name.startswith(FRESHNESS_STEP) and step.get("assets"):
        return f"{step['assets'][0]}:freshness_check"
    return name


def label(rows: int) -> str:
    """``10000`` -> ``1e4``; other counts as they are."""
    exponent = len(str(rows)) - 1
    return f"1e{exponent}" if rows == 10**exponent else str(rows)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], title: str) -> None:
    """Print a plain-text table with right-aligned numbers."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print(
        "  ".join(
            str(h).ljust(w) if i == 0 else str(h).rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _target_text(case: dict[str, Any], full: list[dict[str, Any]]) -> tuple[str, Any]:
    """A size's target against the bare reference, judged as ``run.py`` judges it."""
    large = [item["rows"] for item in full if item["rows"] >= 10**6]
    small = [item["rows"] for item in full if item["rows"] <= 10**4]
    if large and case["rows"] == max(large):
        met = case["wall_ratio"] <= 1.10 and case["rss_ratio"] <= 1.5
        return "wall ≤1.10x, RSS ≤1.5x", met
    if small and case["rows"] == min(small):
        return "wall ≤2.0x", case["wall_ratio"] <= 2.0
    return "–", "–"


def commands_table(result: dict[str, Any]) -> None:
    """Wall, peak RSS and ratios to the bare reference, per size and command."""
    rows = []
    for kind, cases in (("full", result["full"]), ("to features", result["ingest"])):
        for case in cases:
            target, met = _target_text(case, result["full"]) if kind == "full" else ("–", "–")
            bare, dag = case["bare"], case["dagster"]
            size = f"{label(case['rows'])} {kind}"
            rows.append(
                [
                    size,
                    "bare reference",
                    bare["wall_median"],
                    bare["rss_mb_median"],
                    1.0,
                    1.0,
                    "",
                    "",
                    "",
                ]
            )
            rows.append(
                [
                    size,
                    "dagster CLI",
                    dag["wall_median"],
                    dag["rss_mb_median"],
                    case["wall_ratio"],
                    case["rss_ratio"],
                    case.get("wall_ratio_paired_median", float("nan")),
                    target,
                    met,
                ]
            )
    header = [
        "size",
        "command",
        "wall s (median)",
        "peak RSS MB",
        "wall/bare",
        "RSS/bare",
        "paired wall/bare",
        "target",
        "met",
    ]
    table(header, rows, "Commands (median of repeats; each run a fresh process)")


def plain_table(result: dict[str, Any]) -> None:
    """The full graph against the plain script (one core, all cores), and Dagster's own floor."""
    cases = [case for case in result["full"] if "vs_plain" in case]
    floor = result.get("floor")
    if not cases and not floor:
        return
    rows = [
        [
            label(case["rows"]),
            case["plain"]["wall_median"],
            case["plain"]["rss_mb_median"],
            case["plain_all_cores"]["wall_median"],
            case["dagster"]["wall_median"],
            case["dagster"]["rss_mb_median"],
            case["vs_plain"]["wall_ratio"],
            case["vs_plain"]["wall_ratio_paired_median"],
            case["vs_plain"]["rss_ratio"],
            case["vs_plain_all_cores"]["wall_ratio"],
            case["vs_plain_all_cores"]["training_ratio"],
        ]
        for case in cases
    ]
    header = [
        "rows",
        "plain wall s",
        "plain RSS MB",
        "all-core plain wall s",
        "dagster wall s",
        "dagster RSS MB",
        "wall/plain",
        "paired wall/plain",
        "RSS/plain",
        "wall/all-core plain",
        "trained_model/all-core fitting",
    ]
    table(header, rows, "Full graph against the plain script (pandas + Pandera + sklearn + skops)")
    if floor:
        print(
            f"  Dagster's floor ({floor['command']}, fresh home each time):"
            f" {_cell(floor['wall_median'])} s, {_cell(floor['rss_mb_median'])} MB"
            f" (median of {len(floor['runs'])}, {floor['failures']} failed)"
        )


def refresh_table(result: dict[str, Any]) -> None:
    """One new batch on a long history, against the same batch on an empty project."""
    refresh = result.get("refresh")
    if not refresh:
        return
    batches, rows = refresh["batches_before"], refresh["rows_per_batch"]
    runs = [
        (f"history: {batches} batches, first materialization", refresh["history"]),
        (f"refresh: batch {batches + 1} landed", refresh["refresh"]),
        *(
            (f"that batch alone, empty project #{n + 1}", run)
            for n, run in enumerate(refresh["single"])
        ),
    ]
    table(
        ["run (full graph)", "ingest+validate steps s", "command wall s", "peak RSS MB"],
        [[name, run["ingest_validate_seconds"], run["wall"], run["rss_mb"]] for name, run in runs],
        f"Refresh cost ({label(rows)} rows per batch; steps of raw_data, validated_data,"
        " quarantined_rows from the event log)",
    )
    print(f"  refresh / alone: {_cell(refresh['ratio'])}")


def steps_table(result: dict[str, Any]) -> None:
    """Seconds per asset step (Dagster event log) beside the bare reference's stage."""
    cases = result["full"]
    if not cases:
        return
    names = list(
        dict.fromkeys(name for case in cases for name in case["dagster"].get("steps_median", {}))
    )
    header = ["step"] + [f"{label(c['rows'])} {who}" for c in cases for who in ("dagster", "bare")]
    rows = []
    for name in names:
        row = [name]
        for case in cases:
            step = case["dagster"].get("steps_median", {}).get(name)
            stage = bare_stage(name, step or {})
            row += [
                step["seconds"] if step else float("nan"),
                case["bare"]["stages_median"].get(stage, ""),
            ]
        rows.append(row)
    rows.append(
        ["(bare: imports)"]
        + [v for c in cases for v in ("", c["bare"]["stages_median"].get("import", float("nan")))]
    )
    rows.append(
        ["run (RUN_START to RUN_SUCCESS)"]
        + [v for c in cases for v in (c["dagster"]["run_seconds_median"], "")]
    )
    rows.append(
        ["outside the run (startup, load)"]
        + [v for c in cases for v in (c["dagster"]["outside_run_median"], "")]
    )
    rows.append(
        ["events in the log"] + [v for c in cases for v in (c["dagster"]["events_median"], "")]
    )
    rows.append(
        ["whole command"]
        + [v for c in cases for v in (c["dagster"]["wall_median"], c["bare"]["wall_median"])]
    )
    table(
        header,
        rows,
        "Time per asset step, seconds (Dagster event log, STEP_START to STEP_SUCCESS;"
        " bare: the same stage)",
    )
    largest = cases[-1]
    phases = [
        [name, step["seconds"], step["load"], step["compute"], step["store"]]
        for name, step in largest["dagster"].get("steps_median", {}).items()
    ]
    table(
        ["step", "total", "load inputs", "compute+type check", "store+events"],
        phases,
        f"Step phases at {label(largest['rows'])} rows (from event timestamps)",
    )


def ingest_table(result: dict[str, Any]) -> None:
    """Ingestion + validation + features: seconds and seconds per million rows."""
    summary = result.get("ingest_summary")
    if not summary:
        return
    rows = [
        [
            label(p["rows"]),
            p["dagster_steps_seconds"],
            p["dagster_steps_per_million"],
            p["dagster_wall"],
            p["bare_stages_seconds"],
            p["bare_stages_per_million"],
            p["bare_wall"],
        ]
        for p in summary["points"]
    ]
    header = [
        "rows",
        "dagster steps s",
        "s / 1e6 rows",
        "dagster wall",
        "bare stages s",
        "s / 1e6 rows",
        "bare wall",
    ]
    table(header, rows, "Ingestion + validation + features (steps include their checks)")
    for key in (
        "dagster_marginal_wall_per_million",
        "dagster_marginal_steps_per_million",
        "bare_marginal_wall_per_million",
        "linearity",
    ):
        if key in summary:
            print(f"  {key}: {_cell(summary[key])}")


def code_location_table(result: dict[str, Any]) -> None:
    """Loading the code location, and the imports it is made of."""
    loads = result.get("code_location", {})
    rows = [[name, item["wall_median"], item["rss_mb_median"]] for name, item in loads.items()]
    table(["command", "wall s (median)", "peak RSS MB"], rows, "Code location load")


def idle_table(result: dict[str, Any]) -> None:
    """A sensor tick and an automation evaluation with nothing new."""
    idle = result.get("idle")
    if not idle:
        return
    sensor, automation = idle["sensor"], idle["automation"]
    rows = [
        [
            "landing_sensor tick",
            sensor["tick_seconds_median"],
            sensor["run_requests"],
            sum(sensor["data_reader_calls"].values()),
            sensor["bytes_read"],
        ],
        [
            "  scan_landing alone",
            sensor["scan_seconds_median"],
            sensor["scan_new_files"],
            "",
            sensor["scan_bytes_read"],
        ],
        [
            "automation evaluation",
            automation["evaluation_seconds_median"],
            automation["total_requested"],
            sum(automation["data_reader_calls"].values()),
            automation["bytes_read"],
        ],
    ]
    header = ["idle (nothing new)", "seconds (median)", "requested", "data reads", "bytes read"]
    table(
        header,
        rows,
        f"Idle tick / evaluation ({idle['landing_bytes']:,} landing bytes;"
        f" runs launched: {idle['runs_launched']})",
    )


def targets_table(result: dict[str, Any]) -> None:
    """The issue's targets."""
    rows = [
        [t["target"], t["measured"], f"≤ {_cell(t['limit'])} {t['unit']}", t["met"]]
        for t in result.get("targets", [])
    ]
    table(["target", "measured", "limit", "met"], rows, "Targets")


def print_report(result: dict[str, Any]) -> None:
    """Every table of one result."""
    meta = result["meta"]
    dirty = " (uncommitted changes)" if meta.get("dirty") else ""
    print(
        f"\nml_assets benchmark, commit {meta.get('commit', '?')[:12]}{dirty},"
        f" {meta.get('cpus')} CPUs, {meta.get('started')}"
    )
    print(f"training: {json.dumps(meta.get('training'))}")
    commands_table(result)
    plain_table(result)
    steps_table(result)
    ingest_table(result)
    refresh_table(result)
    code_location_table(result)
    idle_table(result)
    targets_table(result)
    if "elapsed_seconds" in meta:
        print(f"\nbenchmark took {meta['elapsed_seconds'] / 60:.1f} min")


def compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Key figures of two results side by side."""

    def figures(result: dict[str, Any]) -> dict[str, float]:
        found = {}
        for kind in ("full", "ingest"):
            for case in result.get(kind, []):
                for who in ("bare", "dagster"):
                    found[f"{kind} {label(case['rows'])} {who} wall s"] = case[who]["wall_median"]
                    found[f"{kind} {label(case['rows'])} {who} RSS MB"] = case[who]["rss_mb_median"]
                found[f"{kind} {label(case['rows'])} wall/bare"] = case["wall_ratio"]
                if "vs_plain" in case:
                    found[f"{kind} {label(case['rows'])} plain wall s"] = case["plain"][
                        "wall_median"
                    ]
                    found[f"{kind} {label(case['rows'])} plain RSS MB"] = case["plain"][
                        "rss_mb_median"
                    ]
                    found[f"{kind} {label(case['rows'])} wall/plain"] = case["vs_plain"][
                        "wall_ratio"
                    ]
                    found[f"{kind} {label(case['rows'])} RSS/plain"] = case["vs_plain"]["rss_ratio"]
        if "floor" in result:
            found["Dagster's floor wall s"] = result["floor"]["wall_median"]
        if "refresh" in result:
            found["refresh ingest+validate s"] = result["refresh"]["refresh_seconds"]
            found["single batch ingest+validate s"] = result["refresh"]["single_seconds_median"]
        for target in result.get("targets", []):
            found[target["target"]] = target["measured"]
        return found

    old, new = figures(before), figures(after)
    rows = [
        [
            name,
            old.get(name, float("nan")),
            value,
            value / old[name] if old.get(name) else float("nan"),
        ]
        for name, value in new.items()
    ]
    table(
        [
            "figure",
            before["meta"].get("commit", "?")[:8],
            after["meta"].get("commit", "?")[:8],
            "after/before",
        ],
        rows,
        "Comparison",
    )


def main(argv: list[str] | None = None) -> int:
    """Print one result, or compare two."""
    paths = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if len(paths) not in (1, 2):
        print(__doc__)
        return 2
    results = [json.loads(path.read_text()) for path in paths]
    if len(results) == 1:
        print_report(results[0])
    else:
        compare(*results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
