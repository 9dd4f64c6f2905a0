"""Asset checks: each batch's fate and the training-set gates, as figures a person can read."""
