"""The online service over real HTTP on loopback, its records, its routing and its log."""
