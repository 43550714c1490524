"""A visible check and the grader never disagree: no answer reads "correct!" in the notebook and then loses its
point in grading, and none reads "not yet" and then scores.

For every questionnaire in `solutions/` (new ones are picked up by name), the solution's answers pass every
visible and hidden check, and plausible variants of each answer get the same verdict from both sides:
- the visible verdict is what `quiz.check` prints in the student copy: the released answer-key cell builds the
  sealed quiz in this process and `quiz.evaluate` judges the live value, as in the student's kernel;
- the grader's verdict comes from the grader's own `judge`, with the kernel replaced by the probe's request
  handlers (`probe.OPS`) running on a namespace here, every request and reply passing through JSON as they do
  between the grader and a kernel. So each value is encoded, decoded and judged against the key, and the
  hidden checks call the function through `StudentFunction`, exactly as in grading, without a kernel per
  variant. One crafted submission per questionnaire, holding a variant of every answer, then goes through
  the real `coursekit grade` (kernel, sandbox and all), and must get the verdicts its own checks printed.

Variants are made from each answer's type (NumPy instead of torch, tuple instead of list, list instead of
tensor, int instead of float, another dtype, a function that changes its arguments, ...) and, for the
functions of chapters 1-3, written by hand below. Each is a snippet of code that rebinds the answer, so the
same text can go into the crafted notebook. Trials are left out of the variants: their test is a visible
cell of the questionnaire, which the grader runs again as released, and their answer cells (training a
model) are left as released, so that this test stays quick.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from coursekit.grading import probe
from coursekit.grading.answers import canonical
from coursekit.grading.assignment import Assignment, bound_names, load_assignment, loaded_names
from coursekit.grading.grade import grade
from coursekit.grading.judge import judge
from coursekit.grading.questions import CORRECT, decode_arg
from coursekit.grading.release import ANSWER_KEY, BEGIN, student_copy, tags
from coursekit.grading.sandbox import Limits

from crafted import _without_markers, write

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((REPO / "solutions").glob("*_questionnaire.ipynb"))
LIMITS = Limits(cell_timeout=60, timeout=300, memory_mb=4096)

# ---------------------------------------------------------------- hand-written variants of the functions

HANDWRITTEN = {
    ("01_pixel_similarity_questionnaire", "q4"): {
        "for loop with append": """
def odd_doubled(numbers):
    result = []
    for n in numbers:
        if n % 2 == 1:
            result.append(2 * n)
    return result""",
        "returns a tuple": """
def odd_doubled(numbers):
    return tuple(2 * n for n in numbers if n % 2 == 1)""",
        "map and filter": """
def odd_doubled(numbers):
    return list(map(lambda n: 2 * n, filter(lambda n: n % 2, numbers)))""",
        "NumPy numbers in a list": """
import numpy as np
def odd_doubled(numbers):
    a = np.array(numbers, dtype=int)
    return list(2 * a[a % 2 == 1])""",
        "empties the list it is given": """
def odd_doubled(numbers):
    out = []
    while numbers:
        n = numbers.pop(0)
        if n % 2 == 1:
            out.append(2 * n)
    return out""",
        "sorts the list it is given": """
def odd_doubled(numbers):
    numbers.sort()
    return [2 * n for n in numbers if n % 2 == 1]""",
        "a generator": """
def odd_doubled(numbers):
    return (2 * n for n in numbers if n % 2 == 1)""",
    },
    ("01_pixel_similarity_questionnaire", "q6b"): {
        "ndim of zeros": """
import torch
def rank_of(shape):
    return torch.zeros(shape).ndim""",
        "NumPy ndim": """
import numpy as np
def rank_of(shape):
    return np.ndim(np.zeros(shape))""",
        "a float": """
def rank_of(shape):
    return float(len(shape))""",
        "a tensor": """
import torch
def rank_of(shape):
    return torch.tensor(len(shape))""",
        "counts with a loop": """
def rank_of(shape):
    n = 0
    for _ in shape:
        n += 1
    return n""",
    },
    ("01_pixel_similarity_questionnaire", "q10c"): {
        "two means": """
def mnist_distance(a, b):
    return (a - b).abs().mean(-1).mean(-1)""",
        "torch functions": """
import torch
def mnist_distance(a, b):
    return torch.mean(torch.abs(a - b), dim=(-2, -1))""",
        "float64": """
def mnist_distance(a, b):
    return (a.double() - b.double()).abs().mean((-1, -2))""",
        "NumPy": """
import numpy as np
def mnist_distance(a, b):
    return np.abs(a.numpy() - b.numpy()).mean((-1, -2))""",
        "in place on `a`": """
def mnist_distance(a, b):
    return a.sub_(b).abs_().mean((-1, -2))""",
        "sum over the count": """
def mnist_distance(a, b):
    return (a - b).abs().sum((-1, -2)) / (a.shape[-1] * a.shape[-2])""",
        "a loop over the images": """
import torch
def mnist_distance(a, b):
    return torch.stack([(im - b).abs().mean() for im in a])""",
    },
    ("02_sgd_roller_coaster_questionnaire", "q6"): {
        "in place": """
def sgd_step(params, grad, lr):
    params -= lr * grad
    return params""",
        "sub": """
def sgd_step(params, grad, lr):
    return params.sub(lr * grad)""",
        "torch.sub with alpha": """
import torch
def sgd_step(params, grad, lr):
    return torch.sub(params, grad, alpha=lr)""",
        "float64": """
def sgd_step(params, grad, lr):
    return params.double() - lr * grad.double()""",
        "NumPy": """
def sgd_step(params, grad, lr):
    return params.numpy() - lr * grad.numpy()""",
        "a clone stepped in place": """
import torch
def sgd_step(params, grad, lr):
    with torch.no_grad():
        new = params.clone()
        new -= lr * grad
    return new""",
    },
    ("02_sgd_roller_coaster_questionnaire", "q8"): {
        "returns a tensor": """
import torch
def x_after_descent(start, lr, steps):
    x = torch.tensor(start).requires_grad_()
    for _ in range(steps):
        ((x - 3) ** 2).backward()
        with torch.no_grad():
            x -= lr * x.grad
        x.grad.zero_()
    return x.detach()""",
        "float64 and float()": """
import torch
def x_after_descent(start, lr, steps):
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        loss = (x - 3) ** 2
        loss.backward()
        with torch.no_grad():
            x -= lr * x.grad
        x.grad = None
    return float(x)""",
        "the book's .data style": """
import torch
def x_after_descent(start, lr, steps):
    x = torch.tensor([start], requires_grad=True)
    for _ in range(steps):
        loss = ((x - 3) ** 2).sum()
        loss.backward()
        x.data -= lr * x.grad.data
        x.grad = None
    return x.item()""",
        "the gradient by hand": """
def x_after_descent(start, lr, steps):
    x = start
    for _ in range(steps):
        x -= lr * 2 * (x - 3)
    return x""",
        "forgets to reset": """
import torch
def x_after_descent(start, lr, steps):
    x = torch.tensor(start).requires_grad_()
    for _ in range(steps):
        ((x - 3) ** 2).backward()
        with torch.no_grad():
            x -= lr * x.grad
    return x.item()""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q2a"): {
        "comprehension": """
def pair_up(xs, ys):
    return [(x, y) for x, y in zip(xs, ys)]""",
        "by index": """
def pair_up(xs, ys):
    return [(xs[i], ys[i]) for i in range(len(xs))]""",
        "lists, not tuples": """
def pair_up(xs, ys):
    return [[x, y] for x, y in zip(xs, ys)]""",
        "a tuple of pairs": """
def pair_up(xs, ys):
    return tuple(zip(xs, ys))""",
        "the zip itself": """
def pair_up(xs, ys):
    return zip(xs, ys)""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q3b"): {
        "matmul": """
import torch
def linear(xb, weights, bias):
    return torch.matmul(xb, weights) + bias""",
        "sum of products": """
def linear(xb, weights, bias):
    return (xb * weights.T).sum(1, keepdim=True) + bias""",
        "NumPy": """
def linear(xb, weights, bias):
    return xb.numpy() @ weights.numpy() + bias.numpy()""",
        "float64": """
def linear(xb, weights, bias):
    return xb.double() @ weights.double() + bias.double()""",
        "adds the bias in place to the result": """
def linear(xb, weights, bias):
    out = xb @ weights
    out += bias
    return out""",
        "adds the bias into the batch": """
def linear(xb, weights, bias):
    return xb.mm(weights).add_(bias)""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q6b"): {
        "exp over one plus exp": """
import torch
def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))""",
        "float64": """
import torch
def sigmoid(x):
    return 1 / (1 + torch.exp(-x.double()))""",
        "NumPy": """
import numpy as np
def sigmoid(x):
    return 1 / (1 + np.exp(-x.numpy()))""",
        "in place on `x`": """
def sigmoid(x):
    return x.neg_().exp_().add_(1).reciprocal_()""",
        "math.e": """
import math
def sigmoid(x):
    return 1 / (1 + math.e ** -x)""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q11"): {
        "trains the tensor it is given": """
import torch
def train_epoch(params, x, y, lr, bs):
    params.requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    params.requires_grad_(False)
    return params""",
        "detach shares the storage": """
import torch
def train_epoch(params, x, y, lr, bs):
    params = params.detach().requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.detach()""",
        "the book's .data style": """
def train_epoch(params, x, y, lr, bs):
    params = params.clone().requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad.zero_()
    return params.data""",
        "split into batches": """
import torch
def train_epoch(params, x, y, lr, bs):
    params = params.clone().requires_grad_()
    for xb, yb in zip(x.split(bs), y.split(bs)):
        loss = ((params[0] * xb + params[1] - yb) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.detach()""",
        "a DataLoader": """
import torch
from torch.utils.data import DataLoader
def train_epoch(params, x, y, lr, bs):
    params = params.clone().requires_grad_()
    for xb, yb in DataLoader(list(zip(x, y)), batch_size=bs):
        loss = ((params[0] * xb + params[1] - yb) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.detach()""",
        "returns NumPy": """
import torch
def train_epoch(params, x, y, lr, bs):
    params = params.clone().requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.detach().numpy()""",
        "float64 parameters": """
import torch
def train_epoch(params, x, y, lr, bs):
    params = params.double().clone().requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.detach()""",
        "returns a list": """
import torch
def train_epoch(params, x, y, lr, bs):
    params = params.clone().requires_grad_()
    for i in range(0, len(x), bs):
        loss = ((params[0] * x[i:i + bs] + params[1] - y[i:i + bs]) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= lr * params.grad
        params.grad = None
    return params.tolist()""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q12"): {
        "losses as tensors": """
def fit(params, x, y, valid_x, valid_y, lr, bs, epochs):
    losses = []
    for _ in range(epochs):
        params = train_epoch(params, x, y, lr, bs)
        losses.append(((params[0] * valid_x + params[1] - valid_y) ** 2).mean())
    return losses""",
        "a tuple": """
def fit(params, x, y, valid_x, valid_y, lr, bs, epochs):
    losses = []
    for _ in range(epochs):
        params = train_epoch(params, x, y, lr, bs)
        losses.append(((params[0] * valid_x + params[1] - valid_y) ** 2).mean().item())
    return tuple(losses)""",
        "a tensor of losses": """
import torch
def fit(params, x, y, valid_x, valid_y, lr, bs, epochs):
    losses = []
    for _ in range(epochs):
        params = train_epoch(params, x, y, lr, bs)
        losses.append(((params[0] * valid_x + params[1] - valid_y) ** 2).mean().item())
    return torch.tensor(losses)""",
    },
    ("03_mnist_loss_and_learner_questionnaire", "q14a"): {
        "where": """
import torch
def relu(x):
    return torch.where(x > 0, x, 0.)""",
        "times a mask": """
def relu(x):
    return x * (x > 0)""",
        "maximum": """
import torch
def relu(x):
    return torch.maximum(x, torch.tensor(0.))""",
        "F.relu": """
import torch.nn.functional as F
def relu(x):
    return F.relu(x)""",
        "NumPy": """
import numpy as np
def relu(x):
    return np.maximum(x.numpy(), 0)""",
        "in place on `x`": """
def relu(x):
    return x.clamp_(min=0)""",
        "half of x plus its size": """
def relu(x):
    return (x + x.abs()) / 2""",
        "float64": """
def relu(x):
    return x.double().clamp(min=0)""",
    },
}

# Groups of answers that a student writes together, so that one answer follows from another.
HANDWRITTEN_GROUPS = {
    "01_pixel_similarity_questionnaire": {
        "the book's NumPy arrays": """
import numpy as np
t = np.arange(1, 10).reshape(3, 3)
doubled = t * 2
corner = doubled[1:, 1:]""",
        "floats": """
import torch
t = torch.arange(1., 10.).view(3, 3)
doubled = t * 2
corner = doubled[1:, 1:]""",
        "doubled in place": """
import torch
t = torch.arange(1, 10).view(3, 3)
doubled = t.mul_(2)
corner = doubled[1:, 1:]""",
        "nested lists": """
t = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
doubled = [[2 * n for n in row] for row in t]
corner = [row[1:] for row in doubled[1:]]""",
    },
}

# ---------------------------------------------------------------- variants made from an answer's type


def _value_variants(name: str, value) -> dict[str, str]:
    """Return {label: code that rebinds `name`} for plausible other ways of writing the answer `value`."""
    n = name
    if isinstance(value, bool) or value is None:
        return {}
    if isinstance(value, str):
        return {"capitals": f"{n} = {n}.upper()", "spaces around": f"{n} = '  ' + {n} + ' '",
                "a list of letters": f"{n} = list({n})", "reversed": f"{n} = {n}[::-1]", "a number": f"{n} = 1"}
    if isinstance(value, int):
        return {"a float": f"{n} = float({n})", "a NumPy int": f"import numpy as _np\n{n} = _np.int64({n})",
                "a tensor": f"import torch as _torch\n{n} = _torch.tensor({n})", "a string": f"{n} = str({n})",
                "one more": f"{n} = {n} + 1", "a one-item list": f"{n} = [{n}]"}
    if isinstance(value, float):
        return {"a NumPy float32": f"import numpy as _np\n{n} = _np.float32({n})",
                "a tensor": f"import torch as _torch\n{n} = _torch.tensor({n})",
                "a tensor of one item": f"import torch as _torch\n{n} = _torch.tensor([{n}])",
                "an int": f"{n} = int({n})", "a string": f"{n} = str({n})", "a one-item list": f"{n} = [{n}]"}
    if isinstance(value, torch.Tensor):
        out = {"NumPy": f"{n} = {n}.detach().cpu().numpy()", "a list": f"{n} = {n}.tolist()",
               "float64": f"{n} = {n}.double()", "float32": f"{n} = {n}.float()",
               "int64": f"{n} = {n}.long()", "a non-contiguous view": f"{n} = {n}.detach().clone().T.contiguous().T",
               "an extra axis": f"{n} = {n}.unsqueeze(0)", "plus one": f"{n} = {n} + 1",
               "a Parameter": f"import torch as _torch\n{n} = _torch.nn.Parameter({n}.detach().float())"}
        if value.ndim == 0:
            out.update({"item()": f"{n} = {n}.item()", "a NumPy scalar": f"{n} = {n}.detach().numpy()[()]"})
        else:
            out["a tuple"] = f"{n} = tuple({n}.tolist())"
        return out
    if isinstance(value, np.ndarray):
        return {"a tensor": f"import torch as _torch\n{n} = _torch.as_tensor({n})", "a list": f"{n} = {n}.tolist()",
                "float64": f"{n} = {n}.astype(float)", "plus one": f"{n} = {n} + 1"}
    if isinstance(value, (tuple, list)):
        out = {"a list": f"{n} = list({n})", "a tuple": f"{n} = tuple({n})",
               "NumPy": f"import numpy as _np\n{n} = _np.array({n})", "reversed": f"{n} = type({n})(reversed({n}))",
               "one item short": f"{n} = {n}[:-1]"}
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            out.update({"floats": f"{n} = [float(v) for v in {n}]",
                        "NumPy ints": f"import numpy as _np\n{n} = tuple(_np.int64(v) for v in {n})",
                        "a torch.Size": f"import torch as _torch\n{n} = _torch.Size({n})",
                        "a tensor": f"import torch as _torch\n{n} = _torch.tensor({n})"})
        return out
    return {}


def _wrap(name: str, body: str) -> str:
    """Return code that replaces the function `name` by one that calls it and passes its result `out` to `body`."""
    return (f"import numpy as _np\nimport torch as _torch\n_solution_{name} = {name}\n\n"
            f"def {name}(*args):\n    out = _solution_{name}(*args)\n{body}\n")


CHANGES_ARGS = """    for a in args:
        if isinstance(a, list):
            a.append(a[-1] if a else 0)
        elif isinstance(a, dict):
            a["changed"] = True
        elif isinstance(a, _torch.Tensor) and a.numel():
            a.data.logical_not_() if a.dtype == _torch.bool else a.data.add_(1)
        elif isinstance(a, _np.ndarray) and a.size and a.dtype.kind in "iuf":
            a += 1
    return out"""


def _function_variants(name: str, out) -> dict[str, str]:
    """Return {label: code that rebinds `name`} for a function whose solution returned `out` on the first case."""
    variants = {"changes its arguments": _wrap(name, CHANGES_ARGS)}
    if isinstance(out, torch.Tensor):
        variants.update({"returns NumPy": _wrap(name, "    return out.detach().cpu().numpy()"),
                         "returns a list": _wrap(name, "    return out.tolist()"),
                         "returns float64": _wrap(name, "    return out.double()"),
                         "returns an extra axis": _wrap(name, "    return out.unsqueeze(0)")})
        if out.is_floating_point():
            variants["returns a tensor that tracks gradients"] = _wrap(
                name, "    return out.detach().clone().requires_grad_()")
    elif isinstance(out, (list, tuple)):
        variants.update({"returns a tuple": _wrap(name, "    return tuple(out)"),
                         "returns a list": _wrap(name, "    return list(out)"),
                         "returns NumPy": _wrap(name, "    return _np.array(out, dtype=object)"),
                         "returns an iterator": _wrap(name, "    return iter(out)")})
    elif isinstance(out, (int, float)) and not isinstance(out, bool):
        variants.update({"returns a float": _wrap(name, "    return float(out)"),
                         "returns a tensor": _wrap(name, "    return _torch.tensor(out)"),
                         "returns a NumPy float": _wrap(name, "    return _np.float64(out)"),
                         "returns a string": _wrap(name, "    return str(out)")})
    return variants


# ---------------------------------------------------------------- the questionnaire, run in this process

@dataclass
class Questionnaire:
    """A solution notebook as this test uses it: the grader's assignment, the notebook run here, the variants."""
    path: Path
    assignment: Assignment
    student: nbformat.NotebookNode
    worked: dict[str, str]
    trials: set[str]
    namespace: dict = field(default_factory=dict)
    visible: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    def qids(self) -> list[str]:
        """Return the questions that take variants: all but the Trials."""
        return [qid for qid in self.assignment.quiz.specs if qid not in self.trials]


def _answer_names(a: Assignment, qids) -> set[str]:
    return set().union(*[loaded_names(ast.parse(a.expressions[q], mode="eval")) for q in qids])


def _trial_cells(nb: nbformat.NotebookNode, a: Assignment, trials: set[str]) -> set[str]:
    """Return the ids of answer cells that serve only Trials (training a model...): they stay as released."""
    needed = _answer_names(a, set(a.quiz.specs) - trials) | {n for h in a.hidden for n in h.names}
    for_trials = _answer_names(a, trials)
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            bound = bound_names(ast.parse(_without_markers(cell.source)))
            if bound & for_trials and not bound & needed:
                found.add(cell.id)
    return found


def run_cells(nb: nbformat.NotebookNode) -> tuple[dict, list[str]]:
    """Run the code cells of `nb` here, in order, errors and all, as a kernel would; return the names and errors."""
    namespace: dict = {"__name__": "__main__"}
    errors = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(cell.source, f"<cell {i}>", "exec"), namespace)
            except Exception as e:
                errors.append(f"cell {i} ({cell.id}) raised {type(e).__name__}: {e}")
    import matplotlib.pyplot as plt
    plt.close("all")
    return namespace, errors


def submission(q: Questionnaire, extra: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Return the student copy with the solution's answers (Trials' left as released), and `extra` code per cell."""
    nb = copy.deepcopy(q.student)
    for cell in nb.cells:
        if cell.id in q.worked:
            cell.source = q.worked[cell.id] + ("\n" + extra[cell.id] if extra and cell.id in extra else "")
    return nb


@lru_cache(maxsize=None)
def questionnaire(path: Path) -> Questionnaire:
    """Return the questionnaire at `path`, its answered student copy run here once."""
    a = load_assignment(path)
    solution = nbformat.read(path, as_version=4)
    trials = {qid for qid, spec in a.quiz.specs.items() if spec["kind"] == "trial"}
    stay = _trial_cells(solution, a, trials)
    worked = {c.id: _without_markers(c.source) for c in solution.cells
              if c.cell_type == "code" and BEGIN in c.source and c.id not in stay}
    q = Questionnaire(path, a, student_copy(solution, where=str(path)), worked, trials)
    q.namespace, errors = run_cells(submission(q))
    assert not errors, f"{q.name}: the answered student copy raised in this process: {errors}"
    q.visible = {qid: r.status for qid, r in q.namespace[a.quiz_name].results.items()}
    return q


# ---------------------------------------------------------------- the two verdicts

def kernel_here(namespace: dict):
    """Return an `ask` that answers the grader's requests as a kernel does, on `namespace`, through JSON."""
    def ask(request: dict) -> dict:
        request = json.loads(json.dumps(request))
        return json.loads(json.dumps(probe.OPS[request["op"]](namespace, request)))
    return ask


def one_question(a: Assignment, qid: str) -> Assignment:
    """Return the assignment cut down to question `qid` and the hidden checks that guard it."""
    hidden = [replace(h, qids=[qid]) for h in a.hidden if qid in h.qids]
    return replace(a, expressions={qid: a.expressions[qid]}, hidden=hidden)


def verdicts(q: Questionnaire, qid: str, namespace: dict) -> tuple[tuple[str, str], tuple[str, str]]:
    """Return ((status, feedback) of the visible check, (status, feedback) of the grader) for `qid` in `namespace`."""
    quiz = namespace[q.assignment.quiz_name]
    value = eval(q.assignment.expressions[qid], namespace)
    visible = quiz.evaluate(qid, value)
    graded = judge(one_question(q.assignment, qid), kernel_here(namespace))[0][qid]
    return (visible.status, visible.feedback), (graded.status, graded.feedback)


def with_variant(q: Questionnaire, code: str) -> dict:
    """Return a copy of the answered namespace with `code` run in it (the answers copied first, so none is shared)."""
    names = dict(q.namespace)
    for name in _answer_names(q.assignment, q.qids()):
        if name in names and not callable(names[name]):
            names[name] = copy.deepcopy(names[name])
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<variant>", "exec"), names)
    return names


def variants(q: Questionnaire) -> list[tuple[str, str, str]]:
    """Return (question id, label, code) for every variant of every answer of `q` but the Trials."""
    found = []
    a = q.assignment
    for qid in q.qids():
        expr = a.expressions[qid]
        if not expr.isidentifier():
            continue
        value, spec = q.namespace[expr], a.quiz.specs[qid]
        if spec["kind"] == "code":
            args = [decode_arg(x) for x in spec["cases"][0]["args"]]
            made = _function_variants(expr, value(*args))
            made.update(HANDWRITTEN.get((q.name, qid), {}))
        else:
            made = _value_variants(expr, value)
        found += [(qid, label, code) for label, code in made.items()]
    for label, code in HANDWRITTEN_GROUPS.get(q.name, {}).items():
        bound = bound_names(ast.parse(code))
        found += [(qid, label, code) for qid in q.qids() if a.expressions[qid] in bound]
    return found


IDS = [p.stem for p in SOLUTIONS]


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_solution_answers_pass_every_visible_and_hidden_check(path):
    q = questionnaire(path)
    for qid in q.qids():
        assert q.visible.get(qid) == CORRECT, f"{q.name} {qid}: the solution's visible check says {q.visible.get(qid)}"
        visible, graded = verdicts(q, qid, q.namespace)
        assert visible[0] == graded[0] == CORRECT, f"{q.name} {qid}: {visible} / grader: {graded}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_stored_solution_shows_every_check_correct(path):
    """The Trials too: their stored check output (nbval compares it with a fresh run) says correct."""
    q = questionnaire(path)
    text = "".join(o.get("text", "") for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    for qid in q.assignment.quiz.specs:
        assert re.search(rf"^{re.escape(qid)}: correct!", text, re.M), f"{q.name}: no 'correct!' stored for {qid}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_every_variant_answer_gets_the_same_verdict_from_the_visible_check_and_the_grader(path, capsys):
    q = questionnaire(path)
    pairs = variants(q)
    assert {qid for qid, _, _ in pairs} == set(q.qids()), "every question but the Trials has variants"
    disagree, statuses = [], []
    for qid, label, code in pairs:
        visible, graded = verdicts(q, qid, with_variant(q, code))
        statuses.append(visible[0])
        if visible[0] != graded[0]:
            disagree.append(f"{qid} [{label}]: the visible check says {visible}, the grader says {graded}")
    with capsys.disabled():
        print(f"\n{q.name}: {len(pairs)} (question, variant) pairs, {statuses.count(CORRECT)} of them correct")
    assert not disagree, "\n".join(disagree)
    assert CORRECT in statuses and set(statuses) - {CORRECT}, "the variants hold right and wrong answers"


def _crafted_extra(q: Questionnaire) -> tuple[dict[str, str], list[str]]:
    """Return {answer cell id: variant code} holding one variant of each answer the visible check accepts.

    A function that changes its arguments is left out: later cells of the notebook may call it on their data.
    """
    solution = nbformat.read(q.path, as_version=4)
    where = {}
    for cell in solution.cells:
        if cell.id in q.worked:
            for name in bound_names(ast.parse(q.worked[cell.id])):
                where.setdefault(name, cell.id)
    extra, chosen, done = {}, [], set()
    for qid, label, code in variants(q):
        expr = q.assignment.expressions[qid]
        if expr in where and qid not in done and label != "changes its arguments":
            names = with_variant(q, code)
            if names[q.assignment.quiz_name].evaluate(qid, names[expr]).status == CORRECT:
                extra[where[expr]] = extra.get(where[expr], "") + "\n" + code
                chosen.append(f"{qid} [{label}]")
                done.add(qid)
    return extra, chosen


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_real_grader_agrees_with_the_checks_on_a_submission_of_variant_answers(path, tmp_path):
    q = questionnaire(path)
    extra, chosen = _crafted_extra(q)
    assert chosen, "at least one answer is written another way"
    nb = submission(q, extra)
    namespace, _ = run_cells(nb)
    visible = {qid: r.status for qid, r in namespace[q.assignment.quiz_name].results.items()}
    write(nb, tmp_path / "submissions" / "variant" / f"{q.name}.ipynb")
    book = grade(tmp_path / "submissions", q.name, out=tmp_path / "grades", solutions=q.path.parent, workers=1,
                 limits=LIMITS, progress=False, log=None)
    row = book["students"][0]
    graded = {qid: r["status"] for qid, r in row["questions"].items()}
    for qid in q.assignment.quiz.specs:
        assert graded[qid] == visible.get(qid, "unanswered"), (
            f"{qid}: the check printed {visible.get(qid)}, the grader says {row['questions'][qid]} "
            f"(variants: {', '.join(chosen)})")


# ---------------------------------------------------------------- "leave the arguments as they were", both sides

def _append_one(numbers):
    numbers.append(1)
    return [2 * n for n in numbers[:-1] if n % 2 == 1]


def _keeps_args_quiz(keeps_args: bool):
    from coursekit.grading import CodeTask, Quiz
    return Quiz("keeps", [CodeTask("q", "odd_doubled", cases=[(([1, 2, 3],), [2, 6])], keeps_args=keeps_args)])


def test_keeps_args_makes_a_function_that_changes_its_list_wrong_and_says_which_argument():
    result = _keeps_args_quiz(True).evaluate("q", _append_one)
    assert result.status == "wrong" and "changes its first argument" in result.feedback


def test_without_keeps_args_a_function_that_changes_its_list_is_still_right():
    assert _keeps_args_quiz(False).evaluate("q", _append_one).status == CORRECT


def test_keeps_args_is_sealed_only_when_asked_for():
    assert "keeps_args" not in _keeps_args_quiz(False).specs["q"]
    assert _keeps_args_quiz(True).specs["q"]["keeps_args"] is True


@pytest.mark.parametrize("arg, change", [
    ([1, 2, 3], "x.append(1)"), (torch.tensor([1., 2.]), "x.add_(1)"), (torch.tensor([1., 2.]), "x.resize_(1)"),
    (np.array([1, 2]), "x += 1"), ({"a": 1}, "x.update(b=2)")])
def test_the_grader_replays_how_a_function_changed_its_arguments(arg, change):
    from coursekit.grading.judge import _replay
    from coursekit.grading.questions import encode_arg
    namespace = {}
    exec(f"def f(x):\n    {change}\n    return 0", namespace)
    before = encode_arg(arg)
    reply = kernel_here(namespace)({"op": "cases", "expr": "f", "cases": [[before]]})
    mine = decode_arg(before)
    _replay(reply["outcomes"])(mine)
    theirs = decode_arg(before)
    namespace["f"](theirs)
    assert encode_arg(mine) == encode_arg(theirs) != before
