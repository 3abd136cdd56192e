"""Shared pieces of the management commands: argument types and the progress bar."""

from typing import Any

from django.core.management.base import OutputWrapper
from tqdm import tqdm


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def positive_float(value: str) -> float:
    """An argparse type: a number above 0."""
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


def progress_bar(stream: OutputWrapper, *, unit: str, desc: str, hidden: bool) -> "tqdm[Any]":
    """A tqdm bar on `stream` (the command's stderr): hidden when asked, and off a
    terminal by tqdm's own rule."""
    return tqdm(unit=unit, desc=desc, disable=True if hidden else None, file=stream)
