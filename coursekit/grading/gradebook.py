"""The gradebook `coursekit grade` writes: `grades.csv`, `grades.json`, `feedback/<student>.md`, and its cache.

- `grades.csv`: one row per student: student, status, total, max, then one column per question (points).
- `grades.json`: the same and more: per question its status and feedback, the notes on the run (cells that
  raised, limits hit, what the guard refused, which sandbox graded it), the tamper flags, the seconds it took,
  the sandbox (`bwrap` or `none`), and in `run` the sandbox and the scheduler of the run, and the summary.
- `feedback/<student>.md`: what to hand back to the student: score, status, notes, each question's feedback.
  It holds nothing of the key that the student's own answers would not unlock in the notebook.
- `.results/<student>.json`: each student's result, keyed by a hash of the submission, the solution
  notebook and the grading settings; a re-run reuses the results whose key still matches (`--redo` ignores
  them), so an interrupted run resumes where it stopped.
Only the grader's own process writes here, and every file is written whole to a temporary file in the same
folder, then renamed over the old one (`os.replace`, atomic on POSIX): a run interrupted at any moment
leaves each file either as it was or complete, never half-written. `grades.csv` is written last.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

from .statuses import ERROR, FAILED, KERNEL_DIED, MEANINGS, MEMORY, RAN, TAMPERED, TIMEOUT



# ---------------------------------------------------------------- files

def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` all at once: a temporary file in the same folder, then `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """Return the process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def safe_name(student: str) -> str:
    """Return a file name for `student`: letters, digits, `.-_` kept, anything else `_` plus a short hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".") or "_"
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode()).hexdigest()[:6]
    return safe


class ResultCache:
    """The per-student results of earlier runs, in `folder`, each valid only for the key it was stored with."""

    def __init__(self, folder: Path):
        """Keep results in `folder`."""
        self.folder = folder

    def get(self, student: str, key: str) -> dict | None:
        """Return the stored result of `student` when it was stored with `key`, else None."""
        try:
            data = json.loads((self.folder / f"{safe_name(student)}.json").read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and data.get("key") == key and isinstance(data.get("result"), dict)
        return data["result"] if ok else None

    def put(self, student: str, key: str, result: dict) -> None:
        """Store the result of `student` with `key`."""
        write_atomic(self.folder / f"{safe_name(student)}.json", json.dumps({"key": key, "result": result}))


# ---------------------------------------------------------------- contents

def summarise(rows: list[dict], max_points: float) -> dict:
    """Return the counts of each status and the mean total over all students."""
    counts = Counter(row["status"] for row in rows)
    mean = sum(row["total"] for row in rows) / len(rows) if rows else 0.0
    return {"students": len(rows), "statuses": dict(sorted(counts.items())), "mean": round(mean, 3),
            "max_points": max_points}


def summary_line(book: dict) -> str:
    """Return the one-line summary printed at the end of a run."""
    s, counts = book["summary"], Counter(book["summary"]["statuses"])
    ran, failed = sum(counts[k] for k in RAN), sum(counts[k] for k in FAILED)
    run = book["run"]
    return (f"{s['students']} submissions: {ran} graded ({counts[ERROR]} with errors, {counts[MEMORY]} out of "
            f"memory), {failed} failed, {counts[TIMEOUT]} timed out, {counts[KERNEL_DIED]} kernel died, "
            f"{counts[TAMPERED]} tampered; mean score {s['mean']:g}/{s['max_points']:g}. "
            f"{run['graded_now']} graded now in {run['seconds']:.1f} s with {run['workers']} workers "
            f"({run['seconds_per_submission']:.2f} s per submission), {run['from_cache']} from earlier runs; "
            f"sandbox {run.get('sandbox', 'none')}, {_where(run.get('scheduler', 'local'))}.")


def _where(scheduler: str) -> str:
    """Return where the submissions were graded, as the summary line says it."""
    return "on this machine" if scheduler == "local" else f"on the Dask cluster at {scheduler}"


def csv_text(book: dict) -> str:
    """Return `grades.csv`: student, status, total, max, then the points of each question."""
    qids = [q["id"] for q in book["questions"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", "total", "max", *qids])
    for row in book["students"]:
        points = [f"{row['questions'][q]['points']:g}" for q in qids]
        writer.writerow([row["student"], row["status"], f"{row['total']:g}", f"{row['max']:g}", *points])
    return buffer.getvalue()


def _cell(text: str) -> str:
    """Return `text` fit for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def feedback_markdown(book: dict, row: dict) -> str:
    """Return the feedback file of one student (see the module docstring)."""
    lines = [f"# {book['assignment']}: feedback for {row['student']}", "",
             f"**Score: {row['total']:g}/{row['max']:g}** (status `{row['status']}`: {MEANINGS[row['status']]})", ""]
    if row.get("notebook"):
        lines += [f"Graded notebook: `{row['notebook']}`.", ""]
    if row["flags"]:
        lines += ["## Flagged for review", "", *[f"- {flag}" for flag in row["flags"]], ""]
    if row["notes"]:
        lines += ["## Notes on the run", "", *[f"- {note}" for note in row["notes"]], ""]
    lines += ["## Questions", "", "| question | result | points | feedback |", "| --- | --- | --- | --- |"]
    for qid, q in row["questions"].items():
        lines.append(f"| {qid} | {q['status']} | {q['points']:g}/{q['max']:g} | {_cell(q['feedback'])} |")
    return "\n".join(lines) + "\n"


def write_gradebook(out: Path, book: dict) -> None:
    """Write the feedback files, `grades.json`, then `grades.csv` into `out`, each atomically."""
    for row in book["students"]:
        write_atomic(out / "feedback" / f"{safe_name(row['student'])}.md", feedback_markdown(book, row))
    write_atomic(out / "grades.json", json.dumps(book, indent=1, ensure_ascii=False) + "\n")
    write_atomic(out / "grades.csv", csv_text(book))
