"""Broken services files behind AIRRA_SERVICES_FILE: one line naming the file, the service and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import CliRun


@pytest.fixture
def services_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a services file path that AIRRA_SERVICES_FILE points at; the test writes it."""
    path = tmp_path / "services.yaml"
    monkeypatch.setenv("AIRRA_SERVICES_FILE", str(path))
    return path


def _assert_one_line_error(run: CliRun, *fragments: str) -> None:
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err
    assert run.err.startswith("airra: ")
    for fragment in fragments:
        assert fragment in run.err


def test_services_file_is_directory(airra: Callable[..., CliRun], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRRA_SERVICES_FILE", str(tmp_path))

    run = airra("services")

    _assert_one_line_error(run, f"{tmp_path}: is a directory", "set AIRRA_SERVICES_FILE to a services YAML file")


def test_services_file_empty_variable(airra: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRRA_SERVICES_FILE", "")

    run = airra("services")

    _assert_one_line_error(run, "invalid setting AIRRA_SERVICES_FILE='': is empty", "unset it to use the default")


def test_services_file_not_utf8(airra: Callable[..., CliRun], services_file: Path) -> None:
    services_file.write_bytes(b"services:\n  - name: caf\xe9\n")

    run = airra("services")

    _assert_one_line_error(run, f"{services_file}: not UTF-8 text", "save the file as UTF-8")


def test_services_file_invalid_yaml(airra: Callable[..., CliRun], services_file: Path) -> None:
    services_file.write_text("services: [\n", encoding="utf-8")

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"{services_file}: invalid YAML at line 2, column 1:",
                           "did not find expected node content")


@pytest.mark.parametrize(("entry", "fragments"), [
    ("depends_on: b", ["depends_on: should be a list, e.g. [a, b] (got 'b')"]),
    ("revenue_per_user_hour: .inf", ["revenue_per_user_hour: Input should be a finite number (got inf)"]),
    ("users_per_rps: .nan", ["users_per_rps: Input should be a finite number (got nan)"]),
    ("replicas: 3", ["replicas: Extra inputs are not permitted; remove the key or correct its spelling"]),
    ("min_replicas: 5\n    max_replicas: 2", ["min_replicas (5) is greater than max_replicas (2)"]),
])
def test_services_file_bad_entry(airra: Callable[..., CliRun], services_file: Path, entry: str,
                                 fragments: list[str]) -> None:
    services_file.write_text(f"services:\n  - name: b\n  - name: a\n    {entry}\n", encoding="utf-8")

    run = airra("services")

    _assert_one_line_error(run, f"{services_file}: service 'a': ", *fragments)
    assert "Value error" not in run.err


@pytest.mark.parametrize(("text", "problem"), [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("services: []\n", "the 'services' list is empty"),
])
def test_services_file_without_services(airra: Callable[..., CliRun], services_file: Path, text: str,
                                        problem: str) -> None:
    # With no service every alert would be unscoped, so nothing could ever be proposed.
    services_file.write_text(text, encoding="utf-8")

    run = airra("services")

    _assert_one_line_error(run, f"{services_file}: {problem}; list the services under 'services:'")


def test_services_file_names_differ_in_case(airra: Callable[..., CliRun], services_file: Path) -> None:
    # Alerts and commands match names case-insensitively, so "orders" would reach "Orders".
    services_file.write_text("services:\n  - name: orders\n  - name: Orders\n", encoding="utf-8")

    run = airra("blast", "orders")

    _assert_one_line_error(run, f"{services_file}: services 'orders' and 'Orders' differ only in case",
                           "rename one of them")


@pytest.mark.parametrize("name", ["' '", "' orders'", "'orders '"])
def test_services_file_name_with_outer_spaces(airra: Callable[..., CliRun], services_file: Path, name: str) -> None:
    # Alert labels and command arguments are stripped before lookup, so such a name could never be found.
    services_file.write_text(f"services:\n  - name: {name}\n", encoding="utf-8")

    run = airra("services")

    _assert_one_line_error(run, "name: has spaces at the start or end", "remove them")


@pytest.mark.parametrize(("aliases", "problem"), [
    ("['']", "aliases: alias '' is empty; remove it"),
    ("[' gateway']", "aliases: alias ' gateway' has spaces at the start or end; remove them"),
])
def test_services_file_bad_alias(airra: Callable[..., CliRun], services_file: Path, aliases: str,
                                 problem: str) -> None:
    services_file.write_text(f"services:\n  - name: api\n    aliases: {aliases}\n", encoding="utf-8")

    run = airra("services")

    _assert_one_line_error(run, f"{services_file}: service 'api': {problem}")


def test_services_file_unknown_default_key(airra: Callable[..., CliRun], services_file: Path) -> None:
    # The key sits under defaults, so the error must point there, not at the first service.
    services_file.write_text("defaults:\n  replicas: 3\nservices:\n  - name: a\n", encoding="utf-8")

    run = airra("services")

    _assert_one_line_error(run, f"{services_file}: defaults.replicas: unknown key; remove it or correct its spelling")
    assert "service 'a'" not in run.err
