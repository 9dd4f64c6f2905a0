"""End to end: the CLI, the daemon, real datasets and the benchmark in subprocesses (mostly slow)."""
