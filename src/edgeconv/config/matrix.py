"""The build matrix (config/config.yaml, with --configfile and --config on top), checked against
workflow/schemas/config.schema.yaml before anything else: each problem one line that names the
file or option it came from, the key, and what would be right (an unknown key with the known key
it resembles, a value outside a list with the list). ``targets`` and ``models`` may be given as one
name or a comma-separated string, as users type them (``--config targets=rvc2``)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgeconv.errors import ConfigError

LISTS = ("models", "targets")  # may be written as one name, or names separated by commas
EXAMPLES = {"models": "my_model", "targets": "openvino"}
JSON_TYPES = {"array": "a list", "object": "a mapping", "string": "a string", "integer": "an integer",
              "number": "a number", "boolean": "true or false", "null": "null"}


def as_lists(config: dict[str, Any]) -> None:
    """``targets: rvc2`` and ``--config targets=rvc2,rvc4`` as the lists they mean."""
    for key in LISTS:
        if isinstance(config.get(key), str):
            config[key] = [name for name in re.split(r"[,\s]+", config[key]) if name]


def check_matrix(config: dict[str, Any], schema_path: Path, origin: Callable[[str], str]) -> None:
    """Raise ConfigError listing every problem of ``config`` (first line: the first problem);
    ``origin(key)`` names where a top-level key was set. On success the schema's defaults are filled in."""
    import jsonschema
    import yaml

    as_lists(config)
    schema = yaml.safe_load(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        key = str(first.absolute_path[0]) if first.absolute_path else (_unknown_keys(first) or [""])[0]
        raise ConfigError(origin(key), [describe(e) for e in errors])
    _fill_defaults(config, schema)


def describe(error: Any) -> str:
    """One jsonschema error as a line for the user: the key, what is wrong, what would be right."""
    key = _key(error.absolute_path)
    at = f"{key}: " if key else ""
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted(error.schema.get("properties", {}))
        lines = []
        for name in _unknown_keys(error):
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            head, colon, value = str(name).partition(":")
            if colon and head in known:  # YAML reads `{max_images:2}` as one key: it needs a space
                hint = f" (write '{head}: {value}', with a space after the colon)"
            lines.append(f"unknown key {f'{key}.' if key else ''}{name}{hint}")
        return "; ".join(lines) + (f"; the keys{f' of {key}' if key else ''} are: {', '.join(known)}" if known else "")
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{at}{error.instance!r} is not one of {', '.join(choices)}{hint}"
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        expected = " or ".join(JSON_TYPES.get(t, t) for t in wanted)
        item = error.instance if isinstance(error.instance, (str, int, float)) else EXAMPLES.get(key, "...")
        example = f"; write it as a list, e.g. {key}: [{item}]" if "array" in wanted and key in LISTS else ""
        if error.instance is None:
            return f"{at}empty; expected {expected}{example}"
        return f"{at}{error.instance!r} is {_type_of(error.instance)}; expected {expected}{example}"
    if kind == "pattern" and key.startswith("models["):  # names become paths and command-line arguments
        return f"{at}{error.instance!r} is not a valid name: use letters, digits, '_' and '-' (not '-' first)"
    if kind == "pattern":
        return f"{at}{error.instance!r} does not have the form {error.validator_value}"
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return f"{f'{key}.' if key else ''}{name} is missing: it is required (e.g. {name}: [{EXAMPLES.get(name, '...')}])"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return f"{at}{error.instance!r} is out of range: it must be {bound} {error.validator_value}"
    if kind == "oneOf" and key == "cluster_batch":
        return f"{at}{error.instance!r} is not valid: give a number of models (1 or more) or auto"
    return f"{at}{error.message}"


def _unknown_keys(error: Any) -> list[str]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, Mapping):
        return []
    known = set(error.schema.get("properties", {}))
    patterns = list(error.schema.get("patternProperties", {}))
    return sorted(str(k) for k in error.instance if k not in known and not any(re.search(p, str(k)) for p in patterns))


def _key(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _type_of(value: Any) -> str:
    for name, kind in (("true or false", bool), ("an integer", int), ("a number", float), ("a string", str),
                       ("a list", list), ("a mapping", Mapping)):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """The schema's top-level defaults, for keys the config does not set (as Snakemake's validate does)."""
    import copy

    for key, sub in schema.get("properties", {}).items():
        if "default" in sub and key not in config:
            config[key] = copy.deepcopy(sub["default"])


def origin_of(files: list[str], cli_files: list[str], cli: Mapping[str, Any]) -> Callable[[str], str]:
    """Where a top-level key was set: ``--config``, else the last ``--configfile`` that sets it, else
    the workflow's config file (Snakemake's order of precedence). Files are read only when asked,
    i.e. when there is a problem to name."""
    import yaml

    order = [f for f in files if f not in cli_files] + list(cli_files)

    def origin(key: str) -> str:
        if key and key in cli:
            return "--config"
        for name in reversed(order):
            try:
                if key in (yaml.safe_load(Path(name).read_text()) or {}):
                    return name
            except (OSError, yaml.YAMLError, TypeError):
                continue
        return order[0] if order else "the config"

    return origin
