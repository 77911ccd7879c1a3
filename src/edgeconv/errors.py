"""Errors that reach the user: the first line says what is wrong, where, and what to do."""

from __future__ import annotations


class ConversionError(Exception):
    """A problem with the user's input (config, model, calibration data) or with a step's result."""


class ConfigError(ConversionError):
    """A model config or the build matrix is invalid."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        head = f"{source}: {problems[0]}"
        rest = "".join(f"\n  {p}" for p in problems[1:])
        super().__init__(head + rest)


class ModelFileError(ConversionError):
    """A model file is missing, unreadable or not a valid model."""


class CalibrationError(ConversionError):
    """Calibration data is missing, empty or unreadable."""


class VerificationError(ConversionError):
    """A converted artifact does not match the original model within thresholds."""


class InputError(ConversionError):
    """An input that cannot be had (a URL, a dataset): one line naming it and what to check."""
