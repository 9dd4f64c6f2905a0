"""The UI as a new user meets it, in headless Chromium from Debian (/usr/bin/chromium).

One pass through the states a user sees, each saved as a screenshot under artifacts/ (ignored by
git): the first screen of the asset graph, the materialized graph, the passed checks, the
evaluation report, and a rejected batch's failed check with its rule, column and rows.
"""

import re
from pathlib import Path

import pytest

from ml_assets_tests.conftest import CHROMIUM, CHROMIUM_FLAGS, CHROMIUM_MISSING
from ml_assets_tests.end_to_end.test_daemon import wait_for
from ml_assets_tests.ui.server import (
    BAD_RULE,
    CHECKS,
    PUBLIC_ASSETS,
    FreshDagsterDev,
)

ARTIFACTS = Path(__file__).parent / "artifacts"
# The UI fetches live data in the background on a loaded 2-core machine: 5 s is not enough.
EXPECT_TIMEOUT_MS = 60_000
# A common desktop screen: wide enough for the graph to draw full nodes (kinds, checks, status).
FIRST_SCREEN = {"width": 1920, "height": 1080}

pytestmark = pytest.mark.skipif(CHROMIUM_MISSING, reason="Debian's chromium is not installed")


@pytest.fixture
def page(server: FreshDagsterDev):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        opened = browser.new_page(viewport=FIRST_SCREEN)
        opened.set_default_timeout(EXPECT_TIMEOUT_MS)
        try:
            yield opened
        finally:
            shoot(opened, "99_last_page")  # where a failed test stopped
            browser.close()


def shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def check_row(page, name: str):
    """A check in an asset's Checks tab: its name and its status (Succeeded, Failed, ...)."""
    return page.locator("span", has=page.locator(f'[title="{name}"]')).last


def metadata_row(page, key: str):
    """A row of a metadata table: its key, timestamp and value."""
    return page.locator("tr", has=page.get_by_text(key, exact=True))


def the_new_run(server: FreshDagsterDev, before: set[str]) -> str:
    wait_for(lambda: {run["runId"] for run in server.runs()} - before, 60, "a run to start")
    (run_id,) = {run["runId"] for run in server.runs()} - before
    return run_id


@pytest.mark.slow
def test_a_new_user_materializes_everything_and_reads_a_rejected_batch(
    server: FreshDagsterDev, page
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/asset-groups")
    for asset in PUBLIC_ASSETS:
        expect(page.locator("foreignObject").get_by_text(asset, exact=True)).to_be_in_viewport()
    shoot(page, "01_first_screen_asset_graph")

    before = {run["runId"] for run in server.runs()}
    page.get_by_role("button", name="Materialize all").click()
    assert server.wait_for_run(the_new_run(server, before)) == "SUCCESS"
    page.reload()
    expect(
        page.locator("foreignObject").get_by_text("evaluation_report", exact=True)
    ).to_be_visible()
    # Each asset's live status has arrived: materialized in the sidebar, no node still loading.
    expect(page.locator('[aria-label="run_success"]')).to_have_count(len(PUBLIC_ASSETS))
    expect(page.get_by_text(re.compile(r"^Loading(…|\.\.\.)$"))).to_have_count(0)
    shoot(page, "02_materialized_asset_graph")

    for asset, names in CHECKS.items():
        page.goto(f"{server.url}/assets/{asset}?view=checks")
        for name in names:
            expect(check_row(page, name)).to_contain_text("Succeeded")
        shoot(page, f"03_checks_passed_{asset}")

    page.goto(f"{server.url}/assets/evaluation_report")
    for metric in ("test_roc_auc", "test_log_loss", "lift_over_majority_class"):
        value = metadata_row(page, metric).locator("td").last
        expect(value).to_have_text(re.compile(r"^-?\d+(\.\d{1,4})?$"))
    shoot(page, "04_evaluation_report_metadata")
    metadata_row(page, "report").get_by_text("[Show Markdown]").click()
    report = page.get_by_role("dialog")
    expect(report.get_by_role("heading", name="Evaluation report")).to_be_visible()
    expect(report).to_contain_text("Candidate against baselines (held-out side)")
    expect(report).to_contain_text("Fairness slices by")
    # The report's figures (confusion matrix, curves, ...) are there, and each one has loaded.
    expect(report.locator("img")).not_to_have_count(0)
    for image in report.locator("img").all():
        expect(image).to_be_visible()
        assert image.evaluate("element => element.complete && element.naturalWidth > 0")
    shoot(page, "05_evaluation_report_markdown")

    bad_file = server.drop_bad_batch()
    page.goto(f"{server.url}/locations/ml_assets/jobs/refresh_data")
    before = {run["runId"] for run in server.runs()}
    page.get_by_role("button", name="Materialize all").click()
    assert server.wait_for_run(the_new_run(server, before)) == "SUCCESS"

    page.goto(f"{server.url}/assets/validated_data?view=checks")
    expect(check_row(page, "batches_accepted")).to_contain_text("Failed")
    page.locator('[title="batches_accepted"]').first.click()
    failure = page.get_by_text(re.compile(rf"^{re.escape(bad_file)}-[0-9a-f]{{8}} rejected: "))
    expect(failure).to_contain_text("100.0% of its rows break the contract (limit 5%)")
    expect(failure).to_contain_text(BAD_RULE)
    shoot(page, "06_rejected_batch_failed_check")
    metadata_row(page, "sample").get_by_text("[Show Markdown]").click()
    sample = page.get_by_role("dialog")
    expect(sample).to_contain_text(f"{bad_file}")
    expect(sample.get_by_role("columnheader", name="line")).to_be_visible()
    expect(sample).to_contain_text("category: isin(['A', 'B', 'C'])")
    shoot(page, "07_rejected_batch_sample_rows")
