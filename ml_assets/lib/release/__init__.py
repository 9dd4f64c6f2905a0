"""The approval gate, the registry, promotion and rollback, serving's A/B."""
