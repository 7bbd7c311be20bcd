"""Shared test helpers."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEFAULT_MODEL_TEXT = resources.files("scoring").joinpath("models", "default_b2b.yaml").read_text("utf-8")
