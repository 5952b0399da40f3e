"""`${VAR}` and `${VAR:-default}` in leadrelay.yml, replaced from a given environment mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(node: Any, environ: Mapping[str, str], path: str, missing: list[tuple[str, str]]) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string; record unset variables with their key path."""
    if isinstance(node, dict):
        return {k: interpolate(v, environ, f"{path}.{k}" if path else str(k), missing) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, environ, f"{path}[{i}]", missing) for i, v in enumerate(node)]
    if isinstance(node, str):
        return _interpolate_text(node, environ, path, missing)
    return node


def _interpolate_text(node: str, environ: Mapping[str, str], path: str, missing: list[tuple[str, str]]) -> Any:
    """Substitute the variables in one string; a string that was exactly one variable keeps YAML typing."""

    def repl(match: re.Match[str]) -> str:
        """Substitute one variable reference."""
        name, default = match.group(1), match.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        missing.append((path, name))
        return ""

    whole = _VAR.fullmatch(node)
    value = _VAR.sub(repl, node)
    # A value that was exactly one variable keeps YAML typing ("true", "80" → bool/int).
    if whole and value != "":
        try:
            return yaml.safe_load(value) if not isinstance(yaml.safe_load(value), (dict, list)) else value
        except yaml.YAMLError:
            return value
    return value
