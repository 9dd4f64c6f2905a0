"""Asset group names, one per stage, reused by jobs and selections."""

INGESTION = "ingestion"
VALIDATION = "validation"
FEATURES = "features"
TRAINING = "training"
EVALUATION = "evaluation"

AUTOMATION_TAG = "ml_assets/refresh"
