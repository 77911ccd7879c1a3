"""Load a per-model config file, apply dotted-key overrides, and validate it.

Errors name the file, the dotted key path as the user wrote it, and -- for an
unknown key -- the nearest valid key.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgeconv.errors import ConfigError
from edgeconv.config.schema import ModelConfig, StageConfig

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def check_model_name(name: str, source: str) -> None:
    if not MODEL_NAME_RE.match(name):
        raise ConfigError(
            source,
            [
                f"model name {name!r} is not allowed: use letters, digits, '_' and '-' only "
                "(it becomes part of file paths and command lines); rename the model file or config"
            ],
        )


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"is not valid YAML{where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"must be a YAML mapping of keys to values, got a {type(data).__name__}"])
    return data


# --------------------------------------------------------------------------- overrides


def parse_override_value(value: Any) -> Any:
    """Values from the command line arrive as strings; read them as YAML like the reference does."""
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def parse_overrides(raw: Any) -> dict[str, dict[str, Any]]:
    """``--config overrides``: model name (or ``*``) -> {dotted.key: value}, checked."""
    if not isinstance(raw, dict):
        raise ConfigError("--config overrides", ["must map a model name (or '*') to {dotted.key: value}; see docs/configuration.md"])
    out: dict[str, dict[str, Any]] = {}
    for model, keys in raw.items():
        if not isinstance(keys, dict):
            raise ConfigError("--config overrides", [f"{model}: must be a mapping of dotted keys to values, got {keys!r}"])
        out[str(model)] = {str(k): v for k, v in keys.items()}
    return out


def apply_overrides(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    source: str,
    model_inputs: list[str] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``dotted.key: value`` set.

    List indices are numbers (``inputs.0.shape``). When the config lists no
    inputs yet, ``model_inputs`` (the model's input names) fills the list so
    that ``inputs.0`` means the model's first input.
    """
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        if any(p == "" for p in parts):
            raise ConfigError(source, [f"override key {dotted!r} is not a dotted key such as inputs.0.shape"])
        if parts[0] == "inputs" and not out.get("inputs") and model_inputs:
            out["inputs"] = [{"name": n} for n in model_inputs]
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            node = _step_into(node, part, parts[i + 1], dotted, source, ".".join(parts[: i + 1]))
        last = parts[-1]
        if isinstance(node, list):
            idx = _index(last, node, dotted, source)
            node[idx] = parse_override_value(value)
        else:
            node[last] = parse_override_value(value)
    return out


def _index(part: str, node: list[Any], dotted: str, source: str) -> int:
    if not part.isdigit():
        raise ConfigError(source, [f"override {dotted!r}: {part!r} must be a list index (0, 1, ...)"])
    idx = int(part)
    if idx >= len(node):
        raise ConfigError(
            source, [f"override {dotted!r}: index {idx} is out of range, the list has {len(node)} item(s)"]
        )
    return idx


def _step_into(node: Any, part: str, next_part: str, dotted: str, source: str, head: str) -> Any:
    if isinstance(node, list):
        return node[_index(part, node, dotted, source)]
    if not isinstance(node, dict):
        raise ConfigError(source, [f"override {dotted!r}: {part!r} is inside a value that is not a mapping"])
    current = node.get(part)
    if current is None or current is True:  # unset, or `true` (on, with its defaults): the keys given
        node[part] = [] if next_part.isdigit() else {}
    elif not isinstance(current, (dict, list)):
        raise ConfigError(source, [f"override {dotted!r}: {head} is {current!r} in the config, not a mapping of "
                                   f"settings; set {head} itself, or make it a mapping first (e.g. {head}: {{...}})"])
    return node[part]


# --------------------------------------------------------------------------- validation


def validate_model_config(raw: dict[str, Any], default_name: str, source: str) -> ModelConfig:
    """Validate a raw config dict (shorthand or ``stages:``) into a :class:`ModelConfig`."""
    raw = dict(raw)
    name = raw.pop("name", None) or default_name
    rich_logging = raw.pop("rich_logging", True)
    # edgeconv's own top-level keys: the stage whose artifact is an NN Archive's model, and the
    # archive's heads (a multi-stage archive links its post-processing stage from the first head).
    main_stage = raw.pop("main_stage", None)
    heads = raw.pop("heads", None) or []
    problems: list[str] = []
    stages: dict[str, StageConfig] = {}
    if "stages" in raw:
        raw_stages = raw.pop("stages")
        if not isinstance(raw_stages, dict) or not raw_stages:
            raise ConfigError(source, ["`stages` must be a non-empty mapping of stage name to stage config"])
        shared = raw  # every other top-level key is a default for each stage
        for stage_name, stage_raw in raw_stages.items():
            if not isinstance(stage_raw, dict):
                problems.append(f"stages.{stage_name}: must be a mapping, got {type(stage_raw).__name__}")
                continue
            merged = {**shared, **stage_raw}
            stages[str(stage_name)] = _validate_stage(merged, f"stages.{stage_name}.", problems)
        for stage_name in stages:
            check_model_name(stage_name, f"{source}: stages.{stage_name}")
    else:
        stages[name] = _validate_stage(raw, "", problems)
    if problems:
        raise ConfigError(source, problems)
    if not isinstance(name, str):
        raise ConfigError(source, [f"name must be a string, got {name!r}"])
    if main_stage is not None and main_stage not in stages:
        raise ConfigError(source, [f"main_stage: no stage {main_stage!r}; stages are {', '.join(stages)}"])
    if not isinstance(heads, list) or not all(isinstance(h, dict) for h in heads):
        raise ConfigError(source, ["heads: must be a list of NN Archive heads (mappings with `parser`, `metadata`, ...)"])
    return ModelConfig(name=name, rich_logging=bool(rich_logging), stages=stages, main_stage=main_stage, heads=heads)


def _validate_stage(raw: dict[str, Any], prefix: str, problems: list[str]) -> StageConfig:
    if "input_model" not in raw:
        problems.append(f"{prefix}input_model: missing; give the path of the ONNX model to convert")
        return None  # type: ignore[return-value]
    try:
        return StageConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, raw, prefix))
        return None  # type: ignore[return-value]


_UNION_TAGS = {"ImageCalibration", "LinkCalibration", "RandomCalibration", "EncodingSpec"}


def format_validation_error(exc: ValidationError, raw: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if str(p) not in _UNION_TAGS and not str(p).startswith("function-")]
        path = prefix + ".".join(loc)
        if err["type"] == "extra_forbidden":
            suggestion = _nearest_key(loc)
            hint = f"; did you mean '{prefix + suggestion}'?" if suggestion else ""
            lines.append(f"unknown key '{path}'{hint}")
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        got = err.get("input")
        got_txt = "" if isinstance(got, (dict, list)) and err["type"] != "missing" else f" (got {got!r})"
        if err["type"] == "missing":
            got_txt = ""
        lines.append(f"{path or 'config'}: {msg}{got_txt}")
    # Deduplicate union branch noise while keeping order.
    seen: set[str] = set()
    return [line for line in lines if not (line in seen or seen.add(line))]


def _nearest_key(loc: list[str]) -> str | None:
    cls = _model_at(StageConfig, loc[:-1])
    if cls is None:
        return None
    match = difflib.get_close_matches(loc[-1], list(cls.model_fields), n=1, cutoff=0.5)
    if not match:
        return None
    return ".".join([*loc[:-1], match[0]])


def _model_at(cls: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    current: Any = cls
    for part in loc:
        current = _unwrap(current)
        if part.isdigit():
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Reduce Optional/list/Annotated annotations to the model they hold (the first one for a union)."""
    for _ in range(6):
        origin = typing.get_origin(tp)
        if origin is None:
            return tp
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if origin in (typing.Union, types.UnionType):
            models = [a for a in args if isinstance(_unwrap(a), type) and issubclass(_unwrap(a), BaseModel)]
            tp = models[0] if models else args[0]
        else:
            tp = args[-1] if origin is dict else args[0]
    return tp


def load_model_config(
    name: str,
    config_path: Path | None,
    model_path: Path | None,
    overrides: dict[str, Any] | None = None,
    model_inputs: list[str] | None = None,
) -> ModelConfig:
    """Load ``config/models/<name>.yaml`` (or defaults for a bare model) with overrides applied."""
    if config_path is not None:
        source = str(config_path)
        raw = read_yaml(config_path)
    else:
        source = str(model_path)
        raw = {"input_model": str(model_path)}
    if overrides:
        raw = apply_overrides(raw, overrides, source, model_inputs)
    return validate_model_config(raw, name, source)
