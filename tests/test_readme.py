"""README.md stays true: its two set-up commands, its settings table and CI's test command."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from settings_table import settings_table  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_settings_table_is_current() -> None:
    assert settings_table() in README, "run `python scripts/update_readme_settings.py` and commit README.md"


def test_readme_quick_start_commands() -> None:
    blocks = _bash_blocks(README.split("## Quick start", 1)[1].split("\n## ", 1)[0])
    assert blocks == ["pip install . && airra demo", "bash scripts/test.sh"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert "bash scripts/test.sh" in commands


def test_readme_links_exist() -> None:
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)\)", README):
        assert (ROOT / target).exists(), f"README links to missing {target}"


def test_sample_topology_ships_in_the_package() -> None:
    """`pip install . && airra demo` needs the sample services file inside the installed package."""
    import tomllib

    import airra
    from airra.topology import DEFAULT_SERVICES_FILE

    package_dir = Path(airra.__file__).resolve().parent
    assert DEFAULT_SERVICES_FILE.is_relative_to(package_dir)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["airra"]
    assert any(DEFAULT_SERVICES_FILE.relative_to(package_dir).match(pattern) for pattern in patterns)
    assert (ROOT / "data" / "services.yaml").resolve() == DEFAULT_SERVICES_FILE
