"""The configuration reference, in Markdown, generated from the config classes (`rlcore config --reference`).

It covers every section of RunConfig and, for the `algorithm` and `reward` sections, every config class that the
registries hold, so an algorithm or reward from an installed package appears without any change here. A field
whose sub-section is chosen by name from another registry (an algorithm's `pair_builder`) says where that registry
names it with `json_schema_extra={"registry": NAME}` (a key of rlcore.registry.NAMED_REGISTRIES).
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, TypeGuard

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rlcore.config import NamedSection, RunConfig
from rlcore.registry import ALGORITHMS, NAMED_REGISTRIES, REWARDS, Registry

HEADER = """# Configuration reference

Generated from the config classes by `rlcore config --reference` (`make config-docs` writes this file; a test checks
that it is current). A run is configured by a YAML file of these sections, and any key can be overridden on the
command line with a dotted path, e.g. `rlcore train configs/demo_grpo.yaml learner.lr=1e-6 algorithm.steps=10`.
Unknown keys are errors. `rlcore config CONFIG.yaml` prints a config with every default filled in.

Defaults are written as YAML/JSON values; `null` is YAML's None."""

BOUNDS = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt")}


def named_registries() -> dict[str, Registry]:
    """The registries behind the named sections of RunConfig: section key -> registry of its classes."""
    return {"algorithm": ALGORITHMS, "reward": REWARDS}


def config_reference() -> str:
    """The whole reference as one Markdown document."""
    return "\n".join([HEADER, *(block for _, _, block in _sections())]) + "\n"


def documented_classes() -> Iterator[tuple[str, type[BaseModel]]]:
    """(reference path, config class) for every section the reference documents."""
    for path, model, _ in _sections():
        yield path, model


def _sections() -> Iterator[tuple[str, type[BaseModel], str]]:
    registries = named_registries()
    for key, field in RunConfig.model_fields.items():
        if key in registries:
            yield from _named(key, field, registries[key], level=2)
        elif _is_section(field.annotation):
            yield from _section(key, field.annotation, field.description, level=2)


def _section(path: str, model: type[BaseModel], description: str | None, level: int, title: str = ""):
    """One table of a section's keys, then its sub-sections."""
    heading = f"{'#' * level} `{path}`{title}"
    yield path, model, "\n".join(["", heading, "", description or "", "", *_table(model)])
    for key, field in model.model_fields.items():
        if isinstance(field.json_schema_extra, dict) and "registry" in field.json_schema_extra:
            registry = NAMED_REGISTRIES[str(field.json_schema_extra["registry"])]
            yield from _named(f"{path}.{key}", field, registry, level + 1)
        elif _is_section(field.annotation):
            yield from _section(f"{path}.{key}", field.annotation, field.description, level + 1)


def _named(path: str, field: FieldInfo, registry: Registry, level: int):
    """A section selected by its `name` key: the choices, then one table per registered class."""
    names = registry.names()
    default = _default(field)
    intro = f"{field.description} `name` is one of: {', '.join(f'`{name}`' for name in names)} (default: {default})."
    yield path, NamedSection, "\n".join(["", f"{'#' * level} `{path}`", "", intro])
    for name in names:
        cls = registry.get(name)
        yield from _section(path, cls.Config, _summary(cls), level + 1, title=f" — `name: {name}`")


def _table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key, field in model.model_fields.items():
        cells = [f"`{key}`", _type(field), _default(field), field.description or ""]
        rows.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return rows


def _type(field: FieldInfo) -> str:
    bounds = [
        f"{symbol} {getattr(item, attr)}"
        for item in field.metadata
        for kind, (symbol, attr) in BOUNDS.items()
        if isinstance(item, kind)
    ]
    return ", ".join([_type_name(field.annotation), *bounds])


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    if _is_section(annotation):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.get_default(call_default_factory=True, validated_data={})
        return "see below" if isinstance(value, BaseModel) else f"`{json.dumps(value, ensure_ascii=False)}`"
    if field.default is PydanticUndefined:
        return "required"
    return f"`{json.dumps(field.default, ensure_ascii=False)}`"


def _summary(cls: type) -> str:
    """The first paragraph of the class docstring, else of its module's, on one line."""
    doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""
    summary = " ".join(doc.strip().split("\n\n")[0].split())
    return summary.removesuffix(":") + "." if summary.endswith(":") else summary


def _is_section(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
