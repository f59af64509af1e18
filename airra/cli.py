"""The ``airra`` command line.

Each subcommand lives in ``airra.commands.<name>`` as ``run(args, settings)``,
which returns an exit code. A module is imported only when its command runs,
so ``airra analyze`` never loads the Slack app.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import stat
import sys
from pathlib import Path

from pydantic import AliasChoices, ValidationError
from pydantic_core import ErrorDetails

from airra.errors import AirraError, ConfigError

COMMANDS = {
    "analyze": "airra.commands.analyze",
    "blast": "airra.commands.blast",
    "simulate": "airra.commands.simulate",
    "services": "airra.commands.services",
    "report": "airra.commands.report",
    "serve": "bot.serve",
    "demo": "bot.demo",
}


# Commands that read or write the stores under AIRRA_DATA_DIR; demo has its own --data-dir.
DATA_DIR_COMMANDS = frozenset({"analyze", "simulate", "report", "serve"})

# Commands that run the Slack app and its HTTP server.
SERVERS = frozenset({"serve", "demo"})


def check_data_dir(path: Path, *, name: str = "AIRRA_DATA_DIR") -> None:
    """Raise ConfigError when a data directory cannot be one; a missing one is fine until the first write.

    Args:
        path: the directory.
        name: the variable or option that set it, named in the error.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ConfigError(f"{name} {path}: part of the path is a file, not a directory; "
                          f"set {name} to a directory") from None
    except OSError as exc:
        raise ConfigError(f"{name} {path}: cannot read it ({exc.strerror}); "
                          f"check its permissions or set {name} to another directory") from None
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"{name} {path} is a file, not a directory; set {name} to a directory")


def setting_problem(error: ErrorDetails) -> str:
    """Describe one invalid setting: the variable, the value given (never a secret's), the rule and the fix."""
    from airra.settings import Settings

    field = str(error["loc"][0]) if error["loc"] else ""
    info = Settings.model_fields.get(field)
    if info is None:
        # The location is already a variable's own name, such as Slack's SLACK_BOT_TOKEN.
        name = field.upper()
    elif isinstance(info.validation_alias, AliasChoices):
        name = str(info.validation_alias.choices[0])
    else:
        name = f"AIRRA_{field.upper()}"

    value = error.get("input")
    secret = info is None or "SecretStr" in str(info.annotation)
    shown = ""
    if isinstance(value, str) and not secret:
        # A URL may carry a user and password before the host.
        shown = "=" + repr("***@" + value.rsplit("@", 1)[1] if "@" in value else value)
    rule = error["msg"].removeprefix("Value error, ")
    return f"invalid setting {name}{shown}: {rule}; correct it, or unset it to use the default"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airra", description="Incident response decisions you can check by hand.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each pipeline stage to stderr")
    # -v is also accepted after the command. SUPPRESS keeps a subcommand from resetting a -v given before it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log each pipeline stage to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = sub.add_parser("analyze", help="print the proposal for an alert file", parents=[verbose])
    analyze.add_argument("alert_file", help="Alertmanager webhook JSON (version 4) or a single alert object")
    analyze.add_argument("--json", action="store_true", help="print the proposal as JSON")

    blast = sub.add_parser("blast", help="print the blast-radius assessment of a service", parents=[verbose])
    blast.add_argument("service")

    simulate = sub.add_parser("simulate", help="print the what-if simulation for a service and category",
                              parents=[verbose])
    simulate.add_argument("service")
    simulate.add_argument("category", help="e.g. memory_leak, cpu_spike, deployment_regression")
    simulate.add_argument("--actions", help="comma-separated action types; default: those allowed for the service")

    sub.add_parser("services", help="list the services of the topology", parents=[verbose])

    report = sub.add_parser("report", help="print a learning report from the JSONL stores", parents=[verbose])
    report.add_argument("kind", choices=["calibration", "feedback"])
    report.add_argument("--days", type=int, help="feedback window in days (default 30); feedback report only")

    serve = sub.add_parser("serve", help="run the Slack bot", parents=[verbose])
    serve.add_argument("--sandbox", action="store_true", help="use the sandbox cluster and metrics")

    demo = sub.add_parser("demo", help="play a complete incident locally, with no Slack workspace", parents=[verbose])
    demo.add_argument("--scenario", default="memory-leak",
                      help="memory-leak, cpu-spike, bad-deployment or wrong-action (default memory-leak)")
    demo.add_argument("--seed", type=int, default=7, help="random seed, for a repeatable run")
    demo.add_argument("--data-dir", help="where to write the stores (default: a new temporary directory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "report" and args.kind == "calibration" and args.days is not None:
        print(f"airra: --days {args.days} applies only to the feedback report; the calibration report "
              "covers the whole store, so leave --days out", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # urllib3 warns once per refused retry; the metrics source already reports each failed query.
        logging.getLogger("urllib3").setLevel(logging.ERROR)

    from airra.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"airra: {setting_problem(error)}", file=sys.stderr)
        return 2

    module = importlib.import_module(COMMANDS[args.command])
    try:
        if args.command in DATA_DIR_COMMANDS:
            check_data_dir(settings.data_dir)
        elif args.command == "demo" and args.data_dir:
            check_data_dir(Path(args.data_dir), name="--data-dir")
        return int(module.run(args, settings) or 0)
    except AirraError as exc:
        print(f"airra: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (head, less) exited, so the rest of the output and any error message have no reader.
        _discard_stdout()
        return 1
    except KeyboardInterrupt:
        print("airra: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A server's crash keeps its traceback: operators read it in the service's log.
        if args.verbose or args.command in SERVERS:
            raise
        print(f"airra: unexpected error: {type(exc).__name__}: {exc}; "
              "run again with --verbose for the traceback, and report it", file=sys.stderr)
        return 1


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
