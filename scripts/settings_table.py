"""Print the Markdown table of every AIRRA setting, its variable, default and meaning.

README.md embeds this output between the ``settings table`` markers;
tests/test_readme.py fails when the two drift apart.
"""

from __future__ import annotations

from pathlib import Path

from pydantic.fields import FieldInfo

from airra.settings import Settings


def variable_name(name: str, field: FieldInfo) -> str:
    """Return the environment variable that sets a field."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return "AIRRA_" + name.upper()


def default_text(field: FieldInfo) -> str:
    """Return a field's default as an operator would write it."""
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, Path) and value.is_absolute():
        return "the shipped `data/services.yaml`"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_table() -> str:
    """Return the settings table in Markdown."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{variable_name(name, field)}` | {default_text(field)} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
