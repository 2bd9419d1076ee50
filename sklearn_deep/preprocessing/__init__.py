"""Preprocessing for the neural estimators (no torch import here)."""

from ._text import TextToSequence

__all__ = ["TextToSequence"]
