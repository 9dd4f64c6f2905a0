"""Training, evaluation and prediction ranges of one model."""
