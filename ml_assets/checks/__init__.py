"""Asset checks: the data contract and the split, reported as data a person can read."""
