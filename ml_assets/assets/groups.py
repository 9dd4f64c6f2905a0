"""Asset group names, one per stage, reused by jobs and selections."""

INGESTION = "ingestion"
VALIDATION = "validation"
FEATURES = "features"
TRAINING = "training"
EVALUATION = "evaluation"


def write_pool(asset: str) -> str:
    """Concurrency pool of one slot per asset (see dagster.yaml): one writer at a time."""
    return f"ml_assets.write.{asset}"
