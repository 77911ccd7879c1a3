"""BENCHMARKS.md is written section by section: a script replaces its own section (from its
``## (x)`` heading to the next ``## ``) and leaves the others as they are."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(mark: str, section: str) -> None:
    """Put ``section`` (starting with the heading ``mark``) in place of that section, or at the end."""
    text = BENCHMARKS.read_text()
    if mark in text:
        before, _, rest = text.partition(mark)
        after = rest[rest.index("\n## "):] if "\n## " in rest else ""
    else:
        before, after = text, ""
    BENCHMARKS.write_text(before.rstrip() + "\n\n" + section.rstrip() + "\n" + after)


def emit(mark: str, lines: list[str], write: bool) -> None:
    """Print a section's lines; with ``write``, put it in BENCHMARKS.md too."""
    section = "\n".join(lines) + "\n"
    print(section)
    if write:
        write_section(mark, section)
