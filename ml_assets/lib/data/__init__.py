"""From landing file to training set: batches, features, the feature store."""
