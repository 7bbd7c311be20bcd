"""Orchestration: CLI, settings, state store, sync runs and automation."""
