"""`dagster dev` as a new user first opens it: a fresh instance, the demo data, a port of its own.

Shared by the browser test and the GraphQL test. The server runs in its own process group and is
stopped by its pid and that group (SIGINT, then SIGKILL to the group), so no webserver, daemon or
code server outlives a test.
"""

from pathlib import Path

from ml_assets.demo.data import make_demo_frame, write_demo_csv
from ml_assets_tests.conftest import ASSET_NAMES, SMALL_ROWS
from ml_assets_tests.end_to_end.test_crash_recovery import graphql
from ml_assets_tests.end_to_end.test_daemon import DagsterDev, wait_for

# A new user's instance, minus what would get in a test's way: no telemetry, no first-run pop-up.
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
LOCATION = "ml_assets"
PUBLIC_ASSETS = ASSET_NAMES
CHECKS = {
    "validated_data": ("batches_accepted", "contract_failures"),
    "features": (
        "enough_rows",
        "null_rates",
        "split_is_usable",
        "distribution_bounds",
        "outlier_share",
        "correlation_stability",
        "class_balance",
    ),
    "evaluation_report": ("beats_baselines",),
    "model_approval": ("approval_gate",),
}
BAD_ROWS = 120
# What the failed check must say about a batch whose every row has an unknown category.
BAD_RULE = "category: isin(['A', 'B', 'C']) in 120 row(s)"

WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUNS = """
{ runsOrError(limit: 10) { ... on Runs { results { runId status jobName } } } }
"""
ASSET_CHECKS = """
query Checks($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization {
    runId status evaluation { success severity description metadataEntries {
      label ... on MarkdownMetadataEntry { mdStr } } } } } } } } } }
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class FreshDagsterDev(DagsterDev):
    """`dagster dev` on 127.0.0.1 with a temporary DAGSTER_HOME and a data folder of demo data."""

    def __init__(self, tmp_path: Path) -> None:
        # Sensors tick once at start, then hourly, and that tick only notes the demo file (no
        # quiet period, else it would take the file in beside the test's own run): only the runs
        # a test starts run.
        super().__init__(
            tmp_path, sensor_interval=3600, dagster_yaml=DAGSTER_YAML, landing_quiet=3600
        )
        write_demo_csv(self.landing, rows=SMALL_ROWS)
        self.url = f"http://127.0.0.1:{self.port}"

    def query(self, text: str, variables: dict | None = None) -> dict:
        """One GraphQL request to the webserver."""
        return graphql(self.port, text, variables or {})

    def location_loaded(self) -> bool:
        """Whether GraphQL reports the code location loaded (a load error fails at once)."""
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            workspace = self.query(WORKSPACE)["workspaceOrError"]
        except OSError:
            return False
        entries = {entry["name"]: entry for entry in workspace.get("locationEntries", [])}
        entry = entries.get(LOCATION)
        if entry is None or entry["loadStatus"] != "LOADED":
            return False
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        return True

    def runs(self) -> list[dict]:
        """The latest runs, newest first, with their status."""
        return self.query(RUNS)["runsOrError"]["results"]

    def wait_for_run(self, run_id: str, timeout: float = 180) -> str:
        """The run's final status, polled through GraphQL."""

        def status() -> str:
            return next(run["status"] for run in self.runs() if run["runId"] == run_id)

        wait_for(lambda: status() in FINISHED, timeout, f"run {run_id} to finish")
        return status()

    def checks(self, asset: str) -> dict[str, dict]:
        """The latest execution of each check of ``asset``, by check name."""
        node = self.query(ASSET_CHECKS, {"key": {"path": [asset]}})["assetNodeOrError"]
        checks = node["assetChecksOrError"]["checks"]
        return {check["name"]: check["executionForLatestMaterialization"] for check in checks}

    def drop_bad_batch(self) -> str:
        """Land a file whose every row breaks the category rule; its name."""
        frame = make_demo_frame(BAD_ROWS, seed=11)
        frame["category"] = "D"
        partial = self.landing / "bad_categories.csv.part"
        frame.to_csv(partial, index=False)
        partial.rename(self.landing / "bad_categories.csv")
        return "bad_categories.csv"
