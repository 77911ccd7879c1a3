"""What a step is: one module under ``edgeconv/steps/`` named after the step, holding one
:class:`Step` declaration called ``STEP``.

A declaration says, in one place:

- the step's named inputs and outputs (``--input key=path``, ``--output key=path``);
- its parameters, a typed :class:`Params` whose fields carry the config keys the step reads under
  their config names (``use_per_channel_quantization``, not ``per_channel``);
- ``configure(ctx, **variant)``: how those parameters are built from a model's resolved config
  while Snakemake parses the workflow (so a bad value stops the run before any job starts, and a
  step's parameters hold exactly the keys it reads: changing another key does not rerun it);
- the toolchain target whose tools it runs, if any;
- ``run(inputs, outputs, params)``: the work, returning details for the step record.

``edgeconv-step NAME`` imports only ``edgeconv.steps.NAME``; :func:`all_steps` lists every
declaration for the project and the tests. Only the standard library is imported here, so that a
step process starts with nothing it does not use.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

Paths = dict[str, Path]
NOT_STEPS = {"base", "__main__"}


@dataclass(frozen=True, kw_only=True)
class ParamsBase:
    """Typed step parameters, passed by the rule as JSON (``--params``)."""

    def to_json(self) -> str:
        """The parameters as the rule passes them; fields left at ``None`` are omitted."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps({k: v for k, v in data.items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TypeError(f"{cls.__qualname__} has no parameters {unknown}")
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class NoParams(ParamsBase):
    """A step that takes no parameters (its inputs say everything)."""


@dataclass(frozen=True, kw_only=True)
class Params(ParamsBase):
    """What every step is given: the model (or unit) it works on, the config file its errors point
    at, the edgeconv build (version, code and lock digests: edgeconv.buildid; a parameter, so that
    new code or another environment rebuilds, and the output cache keys on it), and the toolchain
    its tools run in (set from :attr:`Step.target`)."""

    model: str
    source: str
    edgeconv: str
    toolchain: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class StageParams(Params):
    """Parameters of a step that reads the model's interface: ``io`` holds the stage's config keys
    (inputs, outputs, mean/scale, encoding, layout ...) under their config names, resolved against
    the model file when the step runs (the model may be made by an earlier job). With
    ``archive_preprocess`` the step sees the stage as it is converted: normalization and channel
    reversal moved into the NN Archive."""

    io: dict[str, Any]
    archive_preprocess: bool | None = None
    # The stage as resolved against the model file while Snakemake parsed ({model, inputs,
    # outputs}, without each input's calibration), when that file is the user's own (not made by a
    # rule, whose output may not exist yet at parse time). A step whose
    # parameters class sets PARSED_STAGE and that reads that same file uses it instead of resolving
    # again, and so does not import the pydantic config models (about 0.2 s per step). Calibration
    # is left out so that a calibration key does not rerun steps that do not read it.
    resolved: dict[str, Any] | None = None
    PARSED_STAGE: ClassVar[bool] = False

    def stage(self, model: Path, as_converted: bool = True) -> Any:
        """The :class:`~edgeconv.config.resolved.ResolvedStage` of this step's model."""
        from edgeconv.config.resolved import move_preprocessing, stage_from_dict

        if self.resolved is not None and Path(model).resolve() == Path(self.resolved["model"]).resolve():
            resolved = stage_from_dict(self.resolved)
        else:
            from edgeconv.config.resolve import resolve_stage
            from edgeconv.config.schema import StageConfig
            from edgeconv.onnx_io import read_model_info

            resolved = resolve_stage(StageConfig.model_validate(self.io), read_model_info(model), self.source)
        return move_preprocessing(resolved) if as_converted and self.archive_preprocess else resolved


# The fields every step's parameters may have besides its own settings (build info leaves them out).
COMMON_FIELDS = frozenset(f.name for f in dataclasses.fields(StageParams))


@dataclass(frozen=True)
class Step:
    """One step's declaration (see the module docstring)."""

    name: str
    run: Callable[[Paths, Paths, Any], dict[str, Any] | None]
    params: type[ParamsBase] = Params
    configure: Callable[..., Params] | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    # The toolchain target whose vendor tools the step runs (None: only this environment's Python).
    target: str | None = None
    # Variant targets: ``configure(ctx, target=...)`` picks one (mo runs for rvc2 and rvc3).
    targets: tuple[str, ...] = ()
    # Whether it also runs for an OpenVINO IR given as the model (compiled for rvc2/rvc3 as it is).
    accepts_ir: bool = False
    doc: str = ""

    def load_params(self, data: dict[str, Any]) -> Any:
        return self.params.from_json(data)

    @property
    def reads_stage(self) -> bool:
        return issubclass(self.params, StageParams)


@dataclass(frozen=True)
class Context:
    """What ``configure`` is given at parse time for one unit (a model, or one stage of a
    multi-stage model): its config, whether its preprocessing goes into the NN Archive, the
    workflow's settings (``config/config.yaml`` and ``--config``) and the vendor tools' paths."""

    unit: Any  # edgeconv.discovery.Unit
    archive_preprocess: bool
    settings: dict[str, Any]
    tool: Callable[..., str]  # (target, tool name[, version]) -> path, checked once per parse
    # (target, the config's openvino_version or None) -> the OpenVINO release of its tools
    openvino_version: Callable[[str, str | None], str | None] = lambda target, configured: configured
    # The model's NN Archive heads (given, carried from an input archive, or a recognised detector's).
    heads: Callable[[], list[Any]] = lambda: []

    @property
    def stage(self) -> Any:
        """The unit's validated :class:`~edgeconv.config.schema.StageConfig`."""
        return self.unit.stage

    def key(self, dotted: str) -> str:
        """A config key as errors name it (``stages.<stage>.rvc2.x`` in a multi-stage config)."""
        return f"{self.unit.key_prefix}{dotted}"

    def make(self, params: type[Params], **fields: Any) -> Any:
        """``params`` filled with the common fields (and for a :class:`StageParams`, the stage's
        interface keys) and the step's own ``fields``."""
        from edgeconv.buildid import build_id

        common: dict[str, Any] = {"model": self.unit.name, "source": self.unit.source, "edgeconv": build_id()}
        if issubclass(params, StageParams):
            common.setdefault("io", self.unit.io())
            common["archive_preprocess"] = True if self.archive_preprocess else None
            if params.PARSED_STAGE and self.unit.resolved is not None and not self.unit.made_by_rule:
                from edgeconv.config.resolved import stage_to_dict

                stage = stage_to_dict(self.unit.resolved)
                for spec in stage["inputs"]:
                    spec["calibration"] = {}
                from edgeconv import layout

                # resolved against the file the chain reads (a detector's adapted model)
                model = layout.detector_onnx(self.unit.name) if self.unit.via_detector else str(self.unit.model_path)
                common["resolved"] = {"model": model, **stage}
        return params(**{**common, **fields})


def step(name: str) -> Step:
    """The declaration of step ``name``: ``STEP`` of ``edgeconv.steps.<name>`` (only that module is imported)."""
    if name in NOT_STEPS or not name.isidentifier():
        raise KeyError(name)
    try:
        module = importlib.import_module(f"edgeconv.steps.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"edgeconv.steps.{name}":
            raise KeyError(name) from None
        raise
    declared = getattr(module, "STEP", None)
    if not isinstance(declared, Step) or declared.name != name:
        raise KeyError(name)
    return declared


def step_names() -> list[str]:
    """Every step, by module name, without importing them."""
    import edgeconv.steps as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name not in NOT_STEPS)


def all_steps() -> dict[str, Step]:
    """The registry: every step's declaration by name."""
    return {name: step(name) for name in step_names()}
