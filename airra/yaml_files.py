"""Reading the YAML files that settings point at (services, queries), with one-line errors.

A missing file is left to the caller, whose message names the setting to
fix. Every other failure (a directory, unreadable bytes, a syntax error)
becomes a ConfigError naming the file, the position and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from airra.errors import ConfigError

# libyaml's safe loader parses a large file about three times faster than the
# pure-Python one and builds the same documents. Without libyaml, use the latter.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_file(path: Path, *, setting: str, what: str, error: type[ConfigError] = ConfigError) -> Any:
    """Parse a YAML file and return its document.

    Args:
        path: the file.
        setting: the variable that names the file, e.g. ``AIRRA_SERVICES_FILE``.
        what: what the file is, e.g. ``services`` or ``queries``.
        error: the ConfigError subclass to raise.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigError: naming the file, when it cannot be read or parsed.
    """
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path}: is a directory; set {setting} to a {what} YAML file") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file ({exc.strerror}); check its permissions") from None

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
                    "save the file as UTF-8") from None

    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise error(f"{path}: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Describe a YAML syntax error on one line, with its position in the file."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return "invalid YAML: " + " ".join(str(exc).split())
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
