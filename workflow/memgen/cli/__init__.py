"""`python -m memgen <subcommand>`: the thin shells that every Snakemake rule calls with exact paths.

Every subcommand has ``--help``. Bad input (a `MemgenError`) ends in one line on stderr,
``memgen: error: <what, naming the culprit>``, and exit status 2; outputs are only ever written atomically.
Progress goes through the ``memgen`` logger to stdout (the job's log).
"""

from __future__ import annotations

import argparse
import logging
import sys

from memgen.cli import analysis, data, evaluate, interop, models
from memgen.studies import load_plugins


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memgen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data, models, evaluate, analysis, interop):
        module.register(sub)
    return p


def configure_logging() -> None:
    """The memgen logger prints its messages, bare, to (the current) stdout: the job's log."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("memgen")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    from memgen.errors import MemgenError

    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        load_plugins()
        args.func(args)
    except MemgenError as err:
        print(f"memgen: error: {err}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("memgen: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a preempted training (SIGTERM/SIGUSR1) has checkpointed: exit 128 + signal
        train = sys.modules.get("memgen.train")  # looked up, not imported: other commands stay free of torch
        if train is None or not isinstance(err, train.Preempted):
            raise
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
