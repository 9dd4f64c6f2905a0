"""Report pictures as PNG bytes (matplotlib's Agg canvas, no pyplot state), and the HTML report.

Each function builds one ``matplotlib.figure.Figure`` of a fixed size (``FIGURE_DPI`` dots per
inch), so an image's pixel size is known in advance; Markdown embeds them as data URIs, which
shows them on the Dagster asset page and keeps the HTML file standalone.
"""

import base64
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FIGURE_DPI = 80
PANEL = (3.6, 2.8)  # inches of one panel: 288 x 224 pixels
REFERENCE_COLOUR, CURRENT_COLOUR = "#4c72b0", "#dd8452"
IMPORTANCE_REPEATS = 3
IMPORTANCE_CELLS = 2_000_000  # shuffled cells predicted at once: a few tens of MB
TOP_CATEGORIES = 12
LABELLED_CLASSES = 12  # up to this many classes, each confusion-matrix cell shows its count


def _figure(columns: int = 1, rows: int = 1) -> tuple[Any, np.ndarray]:
    """A figure of ``rows`` x ``columns`` panels and its axes (always a 2-D array)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(PANEL[0] * columns, PANEL[1] * rows), dpi=FIGURE_DPI)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def figure_size(columns: int = 1, rows: int = 1) -> tuple[int, int]:
    """The pixel size (width, height) of a figure of that many panels."""
    return round(PANEL[0] * columns * FIGURE_DPI), round(PANEL[1] * rows * FIGURE_DPI)


def render(figure: Any, left_inches: float = 0.65) -> bytes:
    """The figure as PNG bytes (the Agg canvas; no display, no global pyplot state)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    # Fixed margins in inches: tight_layout would measure every label and cost twice the drawing.
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left_inches / width,
        right=1 - 0.15 / width,
        bottom=0.6 / height,
        top=1 - 0.35 / height,
        wspace=0.45,
        hspace=0.7,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return buffer.getvalue()


def image_markdown(name: str, png: bytes) -> str:
    """A Markdown image whose source is the PNG itself (a data URI)."""
    return f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})"


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[Any]) -> bytes:
    """Counts of actual (rows) against predicted (columns) classes, each cell labelled."""
    figure, axes = _figure()
    ax = axes[0, 0]
    values = np.asarray(matrix)
    ax.imshow(values, cmap="Blues")
    names = [str(label) for label in labels]
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (held-out)")
    high = values.max() / 2 if values.size else 0
    if len(names) > LABELLED_CLASSES:  # unreadable at this size; the report's table has them
        return render(figure)
    for (row, column), count in np.ndenumerate(values):
        colour = "white" if count > high else "black"
        ax.text(column, row, str(count), ha="center", va="center", color=colour)
    return render(figure)


def classifier_curves(truth: np.ndarray, scores: np.ndarray) -> bytes:
    """ROC, precision-recall and calibration of the positive class's probability."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    figure, axes = _figure(columns=3)
    roc, pr, calibration = axes[0]
    fpr, tpr, _ = roc_curve(truth, scores)
    roc.plot(fpr, tpr, color=CURRENT_COLOUR, label=f"AUC {auc(fpr, tpr):.3f}")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    precision, recall, _ = precision_recall_curve(truth, scores)
    pr.plot(recall, precision, color=CURRENT_COLOUR)
    pr.axhline(truth.mean(), color="grey", linestyle=":", label=f"base rate {truth.mean():.2f}")
    pr.set(title="Precision-recall", xlabel="recall", ylabel="precision")
    observed, predicted = calibration_curve(truth, scores, n_bins=10, strategy="quantile")
    calibration.plot(predicted, observed, marker="o", color=CURRENT_COLOUR)
    calibration.plot([0, 1], [0, 1], color="grey", linestyle=":")
    calibration.set(title="Calibration", xlabel="predicted probability", ylabel="observed rate")
    roc.legend(loc="lower right")
    pr.legend(loc="lower left")
    return render(figure)


def regression_plots(truth: np.ndarray, predicted: np.ndarray) -> bytes:
    """Predicted against actual values, and the residuals against the predictions."""
    figure, axes = _figure(columns=2)
    scatter, residuals = axes[0]
    scatter.scatter(truth, predicted, s=6, alpha=0.5, color=CURRENT_COLOUR)
    low, high = float(np.min(truth)), float(np.max(truth))
    scatter.plot([low, high], [low, high], color="grey", linestyle=":")
    scatter.set(title="Predicted vs actual", xlabel="actual", ylabel="predicted")
    residuals.scatter(predicted, truth - predicted, s=6, alpha=0.5, color=CURRENT_COLOUR)
    residuals.axhline(0, color="grey", linestyle=":")
    residuals.set(title="Residuals", xlabel="predicted", ylabel="actual - predicted")
    return render(figure)


def permutation_importance(
    model: Any, inputs: Any, truth: Any, scoring: str, seed: int
) -> tuple[bytes, dict[str, float]]:
    """How much the score drops when each input column is shuffled, on held-out rows.

    The rows are ``evaluation.importance_positions``' few: shuffling every held-out row would
    add nothing.
    """
    drops = shuffled_drops(model, inputs, truth, scoring, seed)
    mean, spread = drops.mean(axis=1), drops.std(axis=1)
    order = np.argsort(mean)
    figure, axes = _figure()
    ax = axes[0, 0]
    names = [str(inputs.columns[i]) for i in order]
    ax.barh(
        names,
        mean[order],
        xerr=spread[order],
        color=CURRENT_COLOUR,
    )
    ax.set(title="Permutation importance", xlabel=f"drop in held-out {scoring}")
    means = {str(inputs.columns[i]): float(mean[i]) for i in order[::-1]}
    label_inches = 0.07 * max(len(name) for name in names) + 0.25  # room for the column names
    return render(figure, left_inches=label_inches), means


def shuffled_drops(model: Any, inputs: Any, truth: Any, scoring: str, seed: int) -> np.ndarray:
    """The score's drop (columns x ``IMPORTANCE_REPEATS``) when each column is shuffled.

    scikit-learn's ``permutation_importance`` predicts once per column and repeat: on a 58-column
    table that is 174 passes through the Pipeline over 382 rows, 16 s of per-call overhead. Here
    the shuffled copies are stacked and predicted together, ``IMPORTANCE_CELLS`` cells at a time.
    """
    import pandas as pd

    from ml_assets.lib.model.bootstrap import f1_macro_scorer, r2_scorer, roc_auc_scorer

    respond, scorer = {
        "roc_auc": (lambda x: model.predict_proba(x)[:, 1], roc_auc_scorer),
        "f1_macro": (model.predict, f1_macro_scorer),
        "r2": (model.predict, r2_scorer),
    }[scoring]
    truth = np.asarray(truth)
    if scoring == "roc_auc":  # the positive class is the second, as scikit-learn's scorer has it
        truth = truth == model.classes_[1]

    def score(outputs: np.ndarray) -> float:
        """The metric on all rows once (the bootstrap's scorers, exact and fast per call)."""
        return float(scorer(truth, np.asarray(outputs))(np.ones((1, len(truth))))[0])

    inputs = inputs.reset_index(drop=True)
    rows, columns = inputs.shape
    baseline = score(respond(inputs))
    rng = np.random.default_rng(seed)
    shuffles = [
        (column, repeat) for column in range(columns) for repeat in range(IMPORTANCE_REPEATS)
    ]
    drops = np.empty((columns, IMPORTANCE_REPEATS))
    per_chunk = max(1, IMPORTANCE_CELLS // max(rows * columns, 1))
    for start in range(0, len(shuffles), per_chunk):
        chunk = shuffles[start : start + per_chunk]
        copies = []
        for column, _ in chunk:
            copy = inputs.copy()
            name = inputs.columns[column]
            copy[name] = inputs[name].take(rng.permutation(rows)).set_axis(inputs.index)
            copies.append(copy)
        outputs = respond(pd.concat(copies, ignore_index=True))
        for at, (column, repeat) in enumerate(chunk):
            drops[column, repeat] = baseline - score(outputs[at * rows : (at + 1) * rows])
    return drops


def group_metrics(fairness: Mapping[str, Any], metric_names: Sequence[str]) -> bytes:
    """Metrics per group of each sensitive column (one panel per column)."""
    columns = list(fairness)
    figure, axes = _figure(columns=max(len(columns), 1))
    for ax, column in zip(axes[0], columns, strict=False):
        groups = fairness[column]["groups"]
        names = [name for name in metric_names if all(name in g for g in groups.values())]
        width = 0.8 / max(len(names), 1)
        for offset, name in enumerate(names):
            positions = np.arange(len(groups)) + offset * width
            ax.bar(positions, [g[name] for g in groups.values()], width=width, label=name)
        ax.set_xticks(np.arange(len(groups)) + width * (len(names) - 1) / 2, list(groups))
        ax.set(title=f"Metrics per {column}", ylim=(0, 1.05))
        ax.legend(fontsize=6, loc="lower right")
    return render(figure)


def drift_panels(
    comparison: Mapping[str, Any], profile: Any, columns: Sequence[str] | None = None
) -> bytes:
    """Reference against current distribution of each column, its verdict in the title.

    Numeric columns: the share of rows in each of the reference's deciles, labelled by their
    upper edges (the reference's are 10% each unless values tie, so a shift shows as bars
    leaning to one side). Categorical
    columns: the share of each category (the most common ``TOP_CATEGORIES``).
    """
    names = list(columns or comparison["columns"])
    width = min(len(names), 3)
    rows = -(-len(names) // width)
    figure, axes = _figure(columns=width, rows=rows)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        statistics = comparison["columns"][name]
        if statistics["kind"] == "numeric":
            reference, current, labels = _decile_shares(profile.numeric[name], statistics)
        else:
            reference, current, labels = _category_shares(profile.categorical[name], statistics)
        positions = np.arange(len(labels))
        ax.bar(positions - 0.2, reference, width=0.4, color=REFERENCE_COLOUR, label="reference")
        ax.bar(positions + 0.2, current, width=0.4, color=CURRENT_COLOUR, label="batch")
        ax.set_xticks(positions, labels, fontsize=6, rotation=45 if len(labels) > 6 else 0)
        colour = {"ok": "black", "warn": "darkorange", "error": "red"}[statistics["verdict"]]
        ax.set_title(f"{name}: {statistics['verdict']}", color=colour, fontsize=9)
        ax.set_ylabel("share of rows", fontsize=7)
    axes.flat[0].legend(fontsize=6)
    return render(figure)


def _decile_shares(profile: Any, statistics: Mapping[str, Any]) -> tuple:
    groups = np.asarray(profile.psi_groups)
    reference = np.bincount(groups, weights=np.asarray(profile.counts, dtype=float))
    current = np.bincount(groups, weights=np.asarray(statistics["histogram"], dtype=float))
    # Decile k ends where bin groups[i] first reaches k + 1, at the percentile edge edges[i - 1].
    starts = [int(np.argmax(groups == k)) for k in range(1, len(reference))]
    uppers = [profile.edges[i - 1] for i in starts]
    labels = [f"<{upper:.3g}" for upper in uppers] + [f"≥{uppers[-1]:.3g}" if uppers else "all"]
    return _share(reference), _share(current), labels


def _category_shares(profile: Any, statistics: Mapping[str, Any]) -> tuple:
    counts = statistics["counts"]
    names = sorted(set(profile.counts) | set(counts), key=lambda n: -profile.counts.get(n, 0))
    names = names[:TOP_CATEGORIES]
    reference = np.array([profile.counts.get(n, 0) for n in names], dtype=float)
    current = np.array([counts.get(n, 0) for n in names], dtype=float)
    reference_total = sum(profile.counts.values())
    current_total = sum(counts.values())
    return (
        reference / reference_total if reference_total else reference,
        current / current_total if current_total else current,
        names,
    )


def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:.25em .6em;text-align:right}th{background:#f3f3f3}img{max-width:100%;"
    "display:block;margin:.5em 0}code{background:#f3f3f3;padding:0 .2em}"
)


DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
IMAGE_PLACEHOLDER = "data:image/png;base64,image-"


def report_html(title: str, markdown: str) -> str:
    """The Markdown report as one standalone HTML page (its images are already data URIs)."""
    from markdown_it import MarkdownIt

    # The parser walks every character: the images' base64 text, most of the page, is set
    # aside and put back into the rendered page (0.2 s of the demo evaluation's 1 s of CPU).
    images: list[str] = []

    def set_aside(found: re.Match) -> str:
        images.append(found.group(0))
        return f"{IMAGE_PLACEHOLDER}{len(images) - 1}"

    body = MarkdownIt("commonmark").enable("table").render(DATA_URI.sub(set_aside, markdown))
    body = re.sub(f"{IMAGE_PLACEHOLDER}(\\d+)", lambda found: images[int(found.group(1))], body)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{HTML_STYLE}</style></head>"
        f"<body>\n{body}</body></html>\n"
    )


def evaluation_images(
    model: Any, held_out: Any, spec: Any, report: Mapping[str, Any], seed: int
) -> tuple[dict[str, bytes], dict[str, float]]:
    """Every picture of the evaluation report by name, and the permutation importances.

    ``held_out`` is ``evaluate_table``'s record of the held-out rows (``HeldOut``).
    """
    from ml_assets.lib.model.evaluation import PRIMARY_METRIC, SLICE_METRICS, positive_index
    from ml_assets.lib.model.modeling import model_inputs

    truth = held_out.truth
    predicted, probabilities = held_out.outputs["candidate"]
    images: dict[str, bytes] = {}
    if spec.is_classification:
        images["confusion_matrix"] = confusion_matrix(report["confusion_matrix"], report["classes"])
    if spec.task == "binary":
        index = positive_index(model.classes_, report["positive_label"])
        positive = (truth == model.classes_[index]).to_numpy()
        if 0 < positive.sum() < len(positive):
            images["roc_pr_calibration"] = classifier_curves(positive, probabilities[:, index])
    if not spec.is_classification:
        images["predicted_vs_actual"] = regression_plots(truth.to_numpy(float), predicted)
    sample = held_out.sample
    images["permutation_importance"], importances = permutation_importance(
        model, model_inputs(sample, spec), sample[spec.target], PRIMARY_METRIC[spec.task], seed
    )
    if report["fairness"]:
        images["metrics_per_group"] = group_metrics(report["fairness"], SLICE_METRICS[spec.task])
    return images, importances


def images_markdown(images: Mapping[str, bytes], heading: str = "## Plots") -> str:
    """A Markdown section of images, each under its name."""
    lines = ["", heading, ""]
    for name, png in images.items():
        lines += [f"### {name.replace('_', ' ')}", "", image_markdown(name, png), ""]
    return "\n".join(lines)
