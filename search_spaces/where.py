"""File and line of a key inside a YAML file, for error messages (`file:line: a.b: ...`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Where:
    path: Path
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    @classmethod
    def from_node(cls, path: Path, node: yaml.Node | None) -> Where:
        lines: dict[tuple[str, ...], int] = {}
        _index(node, (), lines)
        return cls(path, lines)

    def at(self, *keys: str) -> str:
        """`file:line: a.b.c` for the deepest of `keys` the file has a line for."""
        keys = tuple(str(k) for k in keys)
        line = None
        for n in range(len(keys), 0, -1):
            line = self.lines.get(keys[:n])
            if line is not None:
                break
        prefix = f"{self.path}:{line}" if line is not None else str(self.path)
        return f"{prefix}: {'.'.join(keys)}" if keys else prefix


def _index(node: yaml.Node | None, at: tuple[str, ...], lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*at, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _index(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*at, str(i))] = item.start_mark.line + 1
            _index(item, (*at, str(i)), lines)
