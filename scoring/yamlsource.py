"""Parse YAML text while remembering where every key and item came from.

Pure: it takes text and a label for the file, never opens anything. Validation errors from
pydantic carry a location tuple such as ``("intent", "groups", 0, "rules", 2, "points")``;
:meth:`YamlSource.line_of` turns it into the line the user has to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from .errors import ConfigError, Problem

__all__ = ["YamlSource", "format_path"]

Loc = Sequence[str | int]


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class YamlSource:
    """A parsed YAML document plus a map from key paths to 1-based line numbers."""

    def __init__(self, text: str, source: str = "<string>", error_cls: type[ConfigError] = ConfigError):
        self.source = source
        self.text = text
        self._lines: dict[tuple[str | int, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            msg = f"not valid YAML: {exc.problem or exc}"
            raise error_cls([Problem(source, line, "", msg)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises the marked kind
            raise error_cls([Problem(source, None, "", f"not valid YAML: {exc}")]) from None
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> None:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                self._lines[child] = key.start_mark.line + 1
                self._walk(value, child)
                self._lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest known prefix of ``loc`` (pydantic adds union tags we skip)."""
        path = tuple(loc)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get(())
