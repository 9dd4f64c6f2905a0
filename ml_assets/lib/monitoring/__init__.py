"""Drift, statistical checks, live and estimated performance, alerts."""
