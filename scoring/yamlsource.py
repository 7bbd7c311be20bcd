"""Parse YAML text while remembering where every key and item came from.

Pure: it takes text and a label for the file, never opens anything. Validation errors from
pydantic carry a location tuple such as ``("intent", "groups", 0, "rules", 2, "points")``;
:meth:`YamlSource.line_of` turns it into the line the user has to look at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, Problem

__all__ = ["YamlSource", "format_path", "validate"]

M = TypeVar("M", bound=BaseModel)

Loc = Sequence[str | int]


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: how many nodes a document may have once its aliases and merge keys are expanded; a model or a
#: mapping has a few thousand, while a few hundred bytes of nested aliases ("billion laughs") can
#: expand to billions and exhaust memory in the parser or in validation
MAX_NODES = 100_000


class YamlSource:
    """A parsed YAML document plus a map from key paths to 1-based line numbers.

    Stricter than plain YAML where plain YAML hides mistakes: a key given twice in one mapping is an
    error (YAML would silently keep the last), and a document whose aliases expand past
    :data:`MAX_NODES` nodes is refused before it is built.
    """

    def __init__(self, text: str, source: str = "<string>", error_cls: type[ConfigError] = ConfigError,
                 max_nodes: int = MAX_NODES):
        self.source = source
        self.text = text
        self._lines: dict[tuple[str | int, ...], int] = {}
        self._problems: list[Problem] = []
        self._budget = max_nodes
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                self._walk(node, ())
            if self._budget < 0:
                raise error_cls([Problem(source, None, "", f"the document expands to more than {max_nodes:,} "
                                         "nodes through its aliases (&name / *name / <<)",
                                         "write the values out instead of nesting aliases")])
            if self._problems:
                raise error_cls(self._problems)
            self.data: Any = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            msg = f"not valid YAML: {exc.problem or exc}"
            raise error_cls([Problem(source, line, "", msg)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises the marked kind
            raise error_cls([Problem(source, None, "", f"not valid YAML: {exc}")]) from None
        finally:
            loader.dispose()

    def _walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> None:
        self._budget -= 1
        if self._budget < 0:
            return
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                line = key.start_mark.line + 1
                if name in seen and name != "<<" and isinstance(key, yaml.ScalarNode):
                    self._problems.append(Problem(
                        self.source, line, format_path((*path, name)),
                        f"key '{name}' is given twice (first on line {seen[name]}); YAML would keep only the last",
                        "remove or merge one of them"))
                seen.setdefault(name, line)
                child = (*path, name)
                self._walk(value, child)
                self._lines[child] = seen[name]
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


def validate(src: YamlSource, model: type[M], error_cls: type[ConfigError] = ConfigError,
             user_path: Callable[[tuple[str | int, ...]], tuple[str | int, ...]] = tuple) -> M:
    """Validate ``src.data`` as ``model``; raise ``error_cls`` with one located problem per error.

    ``user_path`` turns pydantic's location into the key path the user wrote (a model may
    restructure its input before validating it).
    """
    try:
        return model.model_validate(src.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = user_path(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            bad = err.get("input")
            if err["type"] == "extra_forbidden":
                msg, bad = f"unknown key '{loc[-1]}'", None
            elif err["type"] == "missing":
                msg, bad = f"missing required key '{loc[-1]}'", None
            if bad is not None and not isinstance(bad, dict | list) and repr(bad) not in msg:
                msg += f" (got {bad!r})"
            problems.append(Problem(src.source, src.line_of(loc), format_path(loc), msg))
        raise error_cls(problems) from None
