"""The `coursekit` command (also `python -m coursekit`): course chores an instructor runs.

`coursekit release SRC DEST` writes the student copies of the questionnaires in SRC to DEST;
`--check` only says whether the copies in DEST are up to date. Each subcommand is one `_add_<name>`
function that declares its arguments and the function that runs it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable


def _release(args: argparse.Namespace) -> int:
    """Run `coursekit release`: write (or, with --check, compare) the student copies."""
    from .grading.release import release  # nbformat is imported only when a release is asked for

    try:
        changed = release(args.src, args.dest, check=args.check)
    except ValueError as e:
        print(f"coursekit release: {e}", file=sys.stderr)
        return 2
    if args.check and changed:
        print("Stale student copies (run `make exercises`, i.e. `python -m coursekit release "
              f"{args.src} {args.dest}`):", *[f"  {p}" for p in changed], sep="\n", file=sys.stderr)
        return 1
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print(f"the student copies in {args.dest} are up to date")
    return 0


def _add_release(commands: argparse._SubParsersAction) -> None:
    """Declare `coursekit release SRC DEST [--check]`."""
    p = commands.add_parser("release", help="make the student copies of solution questionnaires",
                            description="Write the student copy of every *_questionnaire.ipynb in SRC (a folder, "
                                        "or one notebook) to DEST: answer key sealed, solutions stubbed, "
                                        "hidden cells removed, outputs cleared.")
    p.add_argument("src", type=Path, metavar="SRC", help="a folder of solution questionnaires, or one notebook")
    p.add_argument("dest", type=Path, metavar="DEST", help="the folder (or notebook path) for the student copies")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and name the copies that are stale")
    p.set_defaults(run=_release)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_release]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the `coursekit` command, one subparser for each of `SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(prog="coursekit", description="Chores for the course's instructors.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `coursekit` command with `argv` (default: the command line); return its exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
