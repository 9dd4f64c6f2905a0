"""The README and docs/ point at pages and sections that exist: moving a section breaks no link."""

import re
from pathlib import Path

import pytest

from ml_assets_tests.conftest import ROOT

PAGES = [ROOT / "README.md", ROOT / "RELIABILITY.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]*)(#[^)\s]*)?\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings (lower case, punctuation dropped)."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        linked = (page.parent / target) if target else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor[1:] not in anchors(linked):
            broken.append(target + anchor)
    assert not broken, f"{page.relative_to(ROOT)} links to what does not exist: {broken}"


def test_the_readme_stays_a_first_hour_read() -> None:
    """What a first hour needs, the rest in docs/ (about five minutes at 250 words a minute)."""
    words = len((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert words <= 1800, f"README.md has {words} words: move detail to a docs/ page"
