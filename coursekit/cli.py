"""The `coursekit` command (also `python -m coursekit`): course chores an instructor runs.

`coursekit release SRC DEST` writes the student copies of the questionnaires in SRC to DEST;
`--check` only says whether the copies in DEST are up to date. `coursekit grade SUBMISSIONS --assignment
NAME` grades a folder of students' notebooks into a gradebook (see `coursekit/grading/grade.py`). Each
subcommand is one `_add_<name>` function that declares its arguments and the function that runs it.
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


def _grade(args: argparse.Namespace) -> int:
    """Run `coursekit grade`: grade the submissions, write the gradebook, print the summary."""
    from .grading.grade import grade  # nbclient, the kernel machinery and torch load only when grading
    from .grading.sandbox import Limits

    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb,
                    disk_mb=args.disk_mb)
    try:
        grade(args.submissions, args.assignment, out=args.out, solutions=args.solutions, workers=args.workers,
              limits=limits, redo=args.redo, sandbox=args.sandbox, scheduler=args.scheduler)
    except ValueError as e:
        print(f"coursekit grade: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'grades.csv'}, {args.out / 'grades.json'} and {args.out / 'feedback'}/")
    return 0


def _add_grade(commands: argparse._SubParsersAction) -> None:
    """Declare `coursekit grade SUBMISSIONS --assignment NAME [--out grades] [options]`."""
    from .grading.sandbox import Limits  # the limits' defaults are declared once, there
    p = commands.add_parser("grade", help="grade a folder of students' notebooks into a gradebook",
                            description="Run each submission in its own sandboxed kernel, judge its answers against "
                                        "the solution notebook (hidden checks included), and write grades.csv, "
                                        "grades.json and one feedback file per student to OUT.")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                   help="a folder of <student>/<assignment>.ipynb or of <student>.ipynb")
    p.add_argument("--assignment", required=True, metavar="NAME",
                   help="the questionnaire, e.g. 01_pixel_similarity_questionnaire")
    p.add_argument("--solutions", type=Path, default=Path("solutions"), metavar="DIR",
                   help="the folder holding NAME.ipynb, the instructor's notebook (default: solutions)")
    p.add_argument("--out", type=Path, default=Path("grades"), metavar="OUT",
                   help="the folder for the gradebook (default: grades)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="submissions graded at once (default: one per CPU core)")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, metavar="S",
                   help="seconds per cell (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=Limits.timeout, metavar="S",
                   help="seconds for a whole notebook (default: %(default)s)")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, metavar="MB",
                   help="memory a notebook's kernel may use, in MiB (default: %(default)s)")
    p.add_argument("--disk-mb", type=int, default=Limits.disk_mb, metavar="MB",
                   help="disk a notebook's private folder may fill, in MiB (default: %(default)s)")
    p.add_argument("--sandbox", choices=["bwrap", "none"], default=None,
                   help="the boundary each kernel runs behind: bwrap (the default; the grader stops, saying what "
                        "to install, where it cannot run) or none (only the audit-hook guard: no security boundary)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on the Dask cluster whose scheduler is at ADDRESS, e.g. tcp://HOST:8786 "
                        "(default: a pool of local processes)")
    p.add_argument("--redo", action="store_true", help="grade every submission again, ignoring earlier results")
    p.set_defaults(run=_grade)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_release, _add_grade]


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
