"""Functions and classes a reader can hold: none in src/edgeconv over 100 lines (a function) or 250
lines (a class), counted from its def/class line to its last line."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "edgeconv"


def oversized(limit_function: int = 100, limit_class: int = 250) -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            length = (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") else 0
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and length > limit_function:
                found.append(f"{path.relative_to(SRC)}: function {node.name} has {length} lines")
            elif isinstance(node, ast.ClassDef) and length > limit_class:
                found.append(f"{path.relative_to(SRC)}: class {node.name} has {length} lines")
    return found


def test_no_function_over_100_lines_and_no_class_over_250():
    assert oversized() == []


def test_the_check_finds_an_oversized_function():
    assert oversized(limit_function=5)  # the project has functions longer than 5 lines
