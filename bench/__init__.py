"""Benchmarks and experiments run by hand (``python bench/<script>.py``), never installed."""
