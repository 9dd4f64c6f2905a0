"""The browser test's flow without a browser: `dagster dev` driven by DagsterGraphQLClient.

The client submits the runs and polls their status; the check results and the report's metadata
are read with the webserver's own GraphQL queries (the client has no call for them).
"""

import time

import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

from ml_assets_tests.ui.server import (
    BAD_RULE,
    CHECKS,
    LOCATION,
    FreshDagsterDev,
)

LATEST_METADATA = """
query Latest($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetMaterializations(limit: 1) { metadataEntries {
    label ... on FloatMetadataEntry { floatValue } ... on MarkdownMetadataEntry { mdStr } } } } } }
"""
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def run_job(client: DagsterGraphQLClient, job: str, timeout: float = 180) -> DagsterRunStatus:
    run_id = client.submit_job_execution(job, repository_location_name=LOCATION)
    deadline = time.monotonic() + timeout
    while (status := client.get_run_status(run_id)) not in FINISHED:
        assert time.monotonic() < deadline, f"run {run_id} of {job} still {status}"
        time.sleep(1)
    return status


@pytest.mark.slow
def test_graphql_materializes_everything_then_reports_a_rejected_batch(
    server: FreshDagsterDev,
) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=server.port)
    assert run_job(client, "full_refresh") == DagsterRunStatus.SUCCESS
    for asset, names in CHECKS.items():
        checks = server.checks(asset)
        assert set(checks) == set(names)
        for name, execution in checks.items():
            assert execution["status"] == "SUCCEEDED", (asset, name, execution)
            assert execution["evaluation"]["success"], (asset, name)

    node = server.query(LATEST_METADATA, {"key": {"path": ["evaluation_report"]}})
    (materialization,) = node["assetNodeOrError"]["assetMaterializations"]
    entries = {entry["label"]: entry for entry in materialization["metadataEntries"]}
    assert entries["report"]["mdStr"].startswith("# Evaluation report")
    metrics = {label: e["floatValue"] for label, e in entries.items() if "floatValue" in e}
    assert {"test_roc_auc", "test_log_loss", "lift_over_majority_class"} <= set(metrics)
    assert all(value == round(value, 4) for value in metrics.values()), metrics

    bad_file = server.drop_bad_batch()
    # A rejected batch warns and is left out: the run succeeds, and its checks say why.
    assert run_job(client, "refresh_data") == DagsterRunStatus.SUCCESS
    checks = server.checks("validated_data")
    accepted = checks["batches_accepted"]
    assert accepted["status"] == "FAILED"
    evaluation = accepted["evaluation"]
    assert not evaluation["success"] and evaluation["severity"] == "WARN"
    assert evaluation["description"].startswith(f"{bad_file}-")
    assert "100.0% of its rows break the contract (limit 5%)" in evaluation["description"]
    assert BAD_RULE in evaluation["description"]
    tables = {entry["label"]: entry.get("mdStr", "") for entry in evaluation["metadataEntries"]}
    assert "| category | isin(['A', 'B', 'C']) | 120 |" in tables["failures_by_rule"]
    assert (
        f"| {bad_file} | 2 | category: isin(['A', 'B', 'C']) failed for 'D' |" in (tables["sample"])
    )
    failures = checks["contract_failures"]["evaluation"]
    assert not failures["success"] and BAD_RULE in failures["description"]
    for name in CHECKS["features"]:
        assert server.checks("features")[name]["evaluation"]["success"], name
