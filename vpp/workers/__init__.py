"""Temporal workers, one module per task queue."""
