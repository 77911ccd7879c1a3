"""Building vendor command lines: the user's flags come first and replace our default for that flag."""

from __future__ import annotations


def has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def add_default(args: list[str], flag: str, *values: str) -> None:
    """Append ``flag values...`` unless the user already gave ``flag``."""
    if not has_flag(args, flag):
        args.extend([flag, *values])
