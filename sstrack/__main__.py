"""``sstrack`` command line: ``sstrack check`` validates the configuration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .config import Config, ConfigError
from .sinks import redact

__all__ = ["main"]


def _check() -> int:
    try:
        config = Config.load()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for url in config.sinks:
        print(f"ok  {redact(url)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="sstrack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate SSTRACK_* settings and sink URLs")
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
