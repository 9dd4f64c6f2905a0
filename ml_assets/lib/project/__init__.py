"""The project's configuration file, read and cross-checked against its contract."""
