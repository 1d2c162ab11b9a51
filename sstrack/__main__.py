"""``sstrack`` command line: ``check`` the configuration and sinks, ``replay`` a spool.

Exit codes: 0 success; 1 a sink failed its check, or events were left
undelivered; 2 the configuration (or the command line) is invalid.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .check import check_config, scrub, secrets_of
from .config import Config, ConfigError
from .replay import replay_directory
from .sinks import redact

__all__ = ["main"]

OK, FAILED, INVALID = 0, 1, 2


def _load() -> Config | None:
    try:
        return Config.load()
    except ConfigError as exc:
        # build_sink's messages may quote a URL whole, password and all: redact it here.
        text = str(exc)
        for url in os.environ.get("SSTRACK_SINKS", "").split():
            text = text.replace(url, redact(url))
        print(text, file=sys.stderr)
        return None


def _check(timeout: float) -> int:
    config = _load()
    if config is None:
        return INVALID
    secrets = secrets_of(config)

    def report(ok: bool, subject: str, detail: str) -> None:
        line = f"{'ok  ' if ok else 'FAIL'} {subject}: {detail}"
        print(scrub(line, secrets), file=sys.stdout if ok else sys.stderr, flush=True)

    return OK if check_config(config, report, timeout) else FAILED


def _replay(directory: str | None, timeout: float) -> int:
    config = _load()
    if config is None:
        return INVALID
    root = directory or config.spool_dir
    if not root:
        print("no spool directory: pass one, or set SSTRACK_SPOOL_DIR", file=sys.stderr)
        return INVALID
    if not os.path.isdir(root):
        print(f"{root} is not a directory", file=sys.stderr)
        return FAILED
    results, strangers = replay_directory(config, root, timeout)
    secrets = secrets_of(config)
    status = OK
    for result in results:
        line = (f"{result.sink}: replayed {result.replayed} events, dead-lettered "
                f"{result.dead_lettered}, {result.left} left in the spool")
        if result.running:
            line += f"; {result.running} segment(s) of running processes left to them"
        if result.left:
            line = f"FAIL {line} ({result.error or 'deadline reached'})"
            status = FAILED
        print(scrub(line, secrets), file=sys.stderr if result.left else sys.stdout)
    for stranger in strangers:
        print(scrub(f"FAIL {stranger}: holds events for a sink not in SSTRACK_SINKS; "
                    "add it to replay them", secrets), file=sys.stderr)
        status = FAILED
    if not results and not strangers:
        print(f"nothing to replay in {root}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="sstrack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate SSTRACK_* settings, then write a test "
                                "event to every sink")
    check.add_argument("--timeout", type=float, default=10.0,
                       help="seconds each sink may take (default 10)")
    replay = commands.add_parser("replay", help="deliver a spool directory to the sinks")
    replay.add_argument("directory", nargs="?", help="the spool (default: SSTRACK_SPOOL_DIR)")
    replay.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to spend before giving up (default 60)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.command == "check":
        return _check(args.timeout)
    return _replay(args.directory, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
