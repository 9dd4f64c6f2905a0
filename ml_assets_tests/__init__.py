"""The test suite: pure functions, assets and checks in process, and end-to-end runs (slow)."""
