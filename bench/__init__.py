"""Benchmarks and their data generator (run as scripts: ``python -m bench.<name>``)."""
