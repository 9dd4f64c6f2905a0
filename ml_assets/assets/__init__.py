"""Dagster assets: thin wrappers that call ``ml_assets.lib`` and describe results as metadata."""

import warnings

import dagster as dg

# dagster is pinned exactly and its beta APIs (data versions on outputs, configure_at_launch) are
# used on purpose, so their warnings would only be noise on every CLI call and run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
