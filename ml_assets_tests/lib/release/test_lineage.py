"""The lineage a person reads: a budgeted search, and a search the wall-clock cap cut."""

from ml_assets.lib.release.lineage import _from_card, lineage_text


def test_the_lineage_names_the_budget_and_a_search_the_clock_cut() -> None:
    cut = "the wall-clock cap of 30 s was reached after 41.2 s of search: linear not searched"
    card = {
        "model": {
            "fingerprint": "abc",
            "params": {"max_leaf_nodes": 15},
            "search": {"budget": 30, "trials": 24, "cut": cut},
        }
    }
    text = lineage_text(_from_card(card, {}))
    assert "search        budget 30 trials, 24 tried" in text
    assert f"search cut    {cut}" in text
    plain = lineage_text(_from_card({"model": {"fingerprint": "abc"}}, {}))
    assert "search" not in plain
