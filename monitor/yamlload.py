"""Safe YAML loading that remembers line numbers, so errors can say ``file:line: key: problem``.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both carry the 1-based
line of the node (``.line``) and of each key or item (``.lines``). ``${VAR}`` and
``${VAR:-default}`` in string scalars are expanded from the environment when asked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import LocatedError


class LineDict(dict[str, Any]):
    line: int | None = None
    lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return getattr(self, "lines", {}).get(key, self.line)


class LineList(list[Any]):
    line: int | None = None
    lines: list[int]

    def line_of(self, index: int) -> int | None:
        lines = getattr(self, "lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, *, file: str, error: type[LocatedError] = LocatedError) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise error(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=file) from None


def load_yaml_file(path: str | Path, *, error: type[LocatedError] = LocatedError) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", file=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", file=str(p)) from None
    return load_yaml_text(text, file=str(p), error=error)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_env(value: Any, *, file: str, line: int | None, key: str,
               env: Mapping[str, str] | None = None, error: type[LocatedError] = LocatedError,
               bare_dollar: bool = False) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` (and ``$VAR`` when ``bare_dollar``) in strings, recursively."""
    environ = os.environ if env is None else env
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(3)
            if m.group(3) and not bare_dollar:
                return m.group(0)
            if name in environ:
                return environ[name]
            if m.group(2) is not None:
                return m.group(2)
            raise error(f"environment variable {name} is not set", file=file, line=line, key=key)
        return _VAR.sub(repl, value)
    if isinstance(value, LineDict):
        out = LineDict()
        out.line, out.lines = value.line, dict(getattr(value, "lines", {}))
        for k, v in value.items():
            out[k] = expand_env(v, file=file, line=value.line_of(k), key=f"{key}.{k}" if key else k,
                                env=env, error=error, bare_dollar=bare_dollar)
        return out
    if isinstance(value, LineList):
        lst = LineList(expand_env(v, file=file, line=value.line_of(i), key=f"{key}[{i}]", env=env,
                                  error=error, bare_dollar=bare_dollar) for i, v in enumerate(value))
        lst.line, lst.lines = value.line, list(getattr(value, "lines", []))
        return lst
    return value
