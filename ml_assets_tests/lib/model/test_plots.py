"""Every report picture decodes as a PNG of the size its figure promises; HTML keeps them inline."""

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LinearRegression, LogisticRegression

from ml_assets.lib.model import plots
from ml_assets.lib.monitoring.drift import build_profile, compare
from ml_assets.lib.project.project_config import DriftSection


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


def test_each_picture_is_a_png_of_its_figure_size() -> None:
    rng = np.random.default_rng(0)
    inputs = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    labels = (inputs["a"] + 0.3 * rng.normal(size=300) > 0).astype(int)
    classifier = LogisticRegression().fit(inputs, labels)
    scores = classifier.predict_proba(inputs)[:, 1]
    numbers = inputs["a"] * 3 + rng.normal(size=300)
    regressor = LinearRegression().fit(inputs, numbers)
    fairness = {"g": {"groups": {"x": {"accuracy": 0.9, "f1": 0.8}, "y": {"accuracy": 0.7}}}}
    frame = pd.DataFrame({"n": rng.normal(size=500), "c": rng.choice(["p", "q"], 500)})
    profile = build_profile(frame, ["n"], ["c"], key="k")
    drift = DriftSection()
    comparison = compare(
        profile, frame.assign(n=frame["n"] + 1), drift.thresholds(), drift.false_alarm_rate
    )
    importance, means = plots.permutation_importance(classifier, inputs, labels, "roc_auc", 0)
    images = {
        plots.confusion_matrix([[50, 3], [4, 43]], [0, 1]): (1, 1),
        plots.classifier_curves(labels.to_numpy(), scores): (3, 1),
        plots.regression_plots(numbers.to_numpy(), regressor.predict(inputs)): (2, 1),
        importance: (1, 1),
        plots.group_metrics(fairness, ["accuracy", "f1"]): (1, 1),
        plots.drift_panels(comparison, profile): (2, 1),
    }
    for png, (columns, rows) in images.items():
        assert decoded(png).size == plots.figure_size(columns, rows)
    assert means["a"] > means["b"] >= -0.05  # the label is made of a, so shuffling a hurts most


def test_the_html_report_carries_its_images_inline() -> None:
    png = plots.confusion_matrix([[1, 2], [3, 4]], ["no", "yes"])
    markdown = "# Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n" + plots.images_markdown({"cm": png})
    page = plots.report_html("Report <1>", markdown)
    assert "<title>Report &lt;1&gt;</title>" in page and "<table>" in page
    (source,) = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert decoded(base64.b64decode(source)).size == plots.figure_size()


@pytest.mark.parametrize("scoring", ["roc_auc", "f1_macro", "r2"])
def test_stacked_shuffles_measure_what_scikit_learns_permutation_importance_does(scoring) -> None:
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(1)
    inputs = pd.DataFrame(
        {"a": rng.normal(size=400), "b": rng.normal(size=400), "c": rng.normal(size=400)}
    )
    signal = inputs["a"] + 0.5 * inputs["b"] + 0.3 * rng.normal(size=400)
    if scoring == "r2":
        model, truth = LinearRegression(), signal
    else:
        truth = pd.Series(np.where(signal > 0, "yes", "no"))
        if scoring == "f1_macro":
            truth = pd.Series(np.select([signal < -0.5, signal > 0.5], ["low", "high"], "mid"))
        model = LogisticRegression()
    model.fit(inputs, truth)
    drops = plots.shuffled_drops(model, inputs, truth, scoring, seed=0)
    theirs = permutation_importance(
        model, inputs, truth, scoring=scoring, n_repeats=30, random_state=0
    ).importances_mean
    assert drops.shape == (3, plots.IMPORTANCE_REPEATS)
    assert np.allclose(drops.mean(axis=1), theirs, atol=0.03)
    assert drops[0].mean() > drops[1].mean() > drops[2].mean()


def test_setting_the_images_aside_renders_the_page_markdown_it_renders() -> None:
    from markdown_it import MarkdownIt

    pictures = {f"p{i}": plots.confusion_matrix([[i, 1], [2, 3]], ["no", "yes"]) for i in range(3)}
    markdown = "# Report\n\n| a |\n|---|\n| 1 |\n" + plots.images_markdown(pictures)
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    assert f"<body>\n{body}</body>" in plots.report_html("Report", markdown)
