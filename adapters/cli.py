"""``wastesvc-adapter``: one subcommand per adapter, each a separate long-running process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adapters.lorawan import cli as lorawan_cli
from adapters.ngsi import cli as ngsi_cli
from adapters.parking import cli as parking_cli
from adapters.talq import cli as talq_cli

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the adapter named on the command line; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="wastesvc-adapter", description="Bridges between the city's systems and wastesvc."
    )
    adapters = parser.add_subparsers(dest="adapter", required=True, metavar="ADAPTER")
    lorawan_cli.add_parser(adapters)
    talq_cli.add_parser(adapters)
    ngsi_cli.add_parser(adapters)
    parking_cli.add_parser(adapters)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
