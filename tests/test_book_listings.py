"""The book's chapter 4 code runs unchanged on the course's library.

Every code cell of fastai/fastbook `clean/04_mnist_basics.ipynb` ("Under the Hood: Training a Digit
Classifier") runs, in the book's order and without edits, one after another in one namespace after
`from coursekit.all import *`, on the bundled MNIST_SAMPLE subset, as a student with the book beside the
course would run them in Jupyter: each cell's statements, then its last expression displayed (HTML, PNG
and text, as Jupyter asks for them), then its figures drawn.

The book's code is not copied into the course (fastbook's code is GPL v3; the course writes its own):
the test reads the notebook from a fastbook checkout named by COURSEKIT_FASTBOOK (the checkout's folder,
or the notebook itself) and is skipped, saying so, where there is none, as in CI. A few cells cannot run
here; `book_cell_kind` says which, and why.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

SEED = 42


FASTBOOK = os.environ.get("COURSEKIT_FASTBOOK", "")
NOTEBOOK = Path(FASTBOOK) / "clean" / "04_mnist_basics.ipynb" if Path(FASTBOOK).is_dir() else Path(FASTBOOK)
needs_book = pytest.mark.skipif(not (FASTBOOK and NOTEBOOK.is_file()), reason=(
    "fastbook's clean/04_mnist_basics.ipynb is not here: set COURSEKIT_FASTBOOK to a fastbook checkout "
    "(git clone https://github.com/fastai/fastbook) to run the book's cells on coursekit"))


def book_cells() -> list[str]:
    """Return the sources of the book's code cells, in order."""
    return [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code" and c.source.strip()]


def book_cell_kind(source: str) -> tuple[str, str]:
    """Return ('run' | 'skip' | 'raises', why) for a book cell."""
    if "fastbook" in source or "from fastai" in source:
        return "skip", "the book's own setup (installs fastbook, imports fastai): `from coursekit.all import *` replaces it"
    if source.lstrip().startswith("gv("):
        return "skip", "`gv` is fastbook's diagram helper and needs the Graphviz program"
    body = ast.parse(source).body
    if len(body) == 1 and isinstance(body[0], ast.AugAssign) and isinstance(body[0].target, ast.Subscript):
        # `w[0] *= ...` on a tensor that requires grad: PyTorch (and so fastai) refuses it, in the book too.
        return "raises", "leaf Variable that requires grad"
    return "run", ""


def _accuracy(learn) -> float:
    return float(learn.recorder.values[-1][2])


def measure(source: str, ns: dict) -> tuple[str, float] | None:
    """Return (which model, its validation accuracy) after a cell that trains one, else None."""
    if re.search(r"train_epoch\(linear1\b", source):
        return "linear1 by hand", ns["validate_epoch"](ns["linear1"])
    if re.search(r"^train_model\(linear_model\b", source, flags=re.M):
        opt = "SGD" if "SGD(" in source else type(ns["opt"]).__name__  # the library's SGD is an OptimWrapper
        return f"nn.Linear with {opt}", ns["validate_epoch"](ns["linear_model"])
    if "fit_one_cycle(" in source:
        return "Learner, resnet18", _accuracy(ns["learn"])
    if re.search(r"^learn\.fit\(", source, flags=re.M):
        kind = "linear" if isinstance(ns["learn"].model, torch.nn.Linear) else "simple_net"
        return f"Learner, {kind}", _accuracy(ns["learn"])
    return None


# The bundled MNIST_SAMPLE has 1,682 training images, the book's 12,396: an epoch is 7 mini-batches of
# 256 here, 49 in the book, so the book's epochs give a seventh of its steps. Where that leaves a model
# short of the book's accuracy, the test also runs the book's cell again, unchanged, as a student would
# re-run it to train on (a `Learner` keeps its weights between `fit` calls).
RUN_AGAIN = {"Learner, linear"}


def _display(value) -> str:
    """Render `value` as Jupyter asks a kernel to (HTML and PNG where the object offers them), return its text."""
    for method in ("_repr_html_", "_repr_png_"):
        if hasattr(value, method) and not isinstance(value, type):
            getattr(value, method)()
    return repr(value)


def _draw_open_figures() -> None:
    """Draw every open matplotlib figure to PNG, as Jupyter's inline backend does at the end of a cell, then close them."""
    for num in plt.get_fignums():
        plt.figure(num).savefig(io.BytesIO(), format="png")
    plt.close("all")


def run_cell(source: str, ns: dict) -> str:
    """Run one notebook cell in `ns` as Jupyter does; return what it printed and displayed."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<book cell>", "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<book cell>", "eval"), ns)
            if value is not None and not source.rstrip().endswith(";"):
                print(_display(value))
        _draw_open_figures()
    return out.getvalue()


@dataclass
class BookRun:
    """What running the chapter gave: each cell's source, output, error and warnings, and the accuracies reached."""
    cells: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)
    accuracies: dict = field(default_factory=dict)
    resnet_losses: list = field(default_factory=list)

    def output_of(self, source: str) -> str:
        """Return what the book cell with exactly this source printed."""
        return self.outputs[self.cells.index(source)]


def run_book(cells: list[str], seed: int = SEED) -> BookRun:
    """Run every book cell that can run, in order, in one namespace after `from coursekit.all import *`."""
    ns: dict = {}
    exec("from coursekit.all import *", ns)
    ns["set_seed"](seed)  # not a book cell: the book's runs are random, the test's are repeatable
    run = BookRun(cells=cells)
    for i, source in enumerate(cells):
        if book_cell_kind(source)[0] == "skip":
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run.outputs[i] = run_cell(source, ns)
            except Exception as e:  # noqa: BLE001 -- recorded, and the tests say which cell and why
                run.errors[i] = e
        run.warnings[i] = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        found = measure(source, ns) if i not in run.errors else None
        if found:
            run.accuracies[found[0]] = found[1]
            if found[0] in RUN_AGAIN:
                run_cell(source, ns)
                run.accuracies[found[0] + ", cell run twice"] = measure(source, ns)[1]
            if found[0] == "Learner, resnet18":
                run.resnet_losses = [float(v) for v in ns["learn"].recorder.values[-1][:2]]
    plt.close("all")
    return run


@pytest.fixture(scope="module")
def book() -> BookRun:
    from coursekit.learner import defaults

    old = vars(defaults).copy()
    defaults.logging = defaults.progress = True  # the book shows its results tables: run them too
    try:
        yield run_book(book_cells())
    finally:
        vars(defaults).update(old)
        Path.BASE_PATH = None  # the book's cell set it; other tests expect the plain repr


@needs_book
def test_every_runnable_book_cell_runs_unchanged(book):
    kinds = [book_cell_kind(c)[0] for c in book.cells]
    failed = {i: e for i, e in book.errors.items() if kinds[i] != "raises"}
    report = "\n".join(f"cell {i}: {book.cells[i]!r}\n  {type(e).__name__}: {e}" for i, e in failed.items())
    assert not failed, f"{len(failed)} book cells failed:\n{report}"
    assert kinds.count("run") == len(book.outputs) >= 130, (len(book.cells), kinds.count("run"))


@needs_book
def test_cells_that_fail_in_the_book_fail_the_same_way(book):
    for i, source in enumerate(book.cells):
        kind, match = book_cell_kind(source)
        if kind == "raises":
            assert isinstance(book.errors.get(i), RuntimeError) and match in str(book.errors[i]), (source, book.errors.get(i))


@needs_book
def test_only_setup_and_the_books_own_helpers_are_skipped(book):
    skipped = [c for c in book.cells if book_cell_kind(c)[0] == "skip"]
    assert len(skipped) <= 4, skipped


@needs_book
def test_first_listings_show_the_folder_as_an_L_of_short_paths(book):
    assert book.output_of("path.ls()").strip() == "(#3) [Path('labels.csv'),Path('train'),Path('valid')]"
    assert book.output_of("(path/'train').ls()").strip() == "(#2) [Path('train/3'),Path('train/7')]"
    threes = next(book.outputs[i] for i, c in enumerate(book.cells) if c.rstrip().endswith("\nthrees"))
    assert threes.startswith("(#826) [Path('train/3/") and threes.strip().endswith("...]")


@needs_book
def test_letters_dataset_uses_string_from_the_star_import(book):
    letters = next(book.outputs[i] for i, c in enumerate(book.cells) if "string.ascii_lowercase" in c)
    assert letters.startswith("(#26) [(0, 'a'),(1, 'b')")


@needs_book
def test_cnn_learner_cell_warns_that_the_name_is_deprecated(book):
    i = next(i for i, c in enumerate(book.cells) if "cnn_learner(" in c)
    messages = [str(w.message) for w in book.warnings[i]]
    assert any("vision_learner" in m for m in messages), messages


# Bars the bundled subset clears on every seed tried (0-5 and 42); the lowest accuracy measured is in the comment.
@needs_book
@pytest.mark.parametrize("model, bar", [
    ("nn.Linear with BasicOptim", 0.95),  # 0.976
    ("nn.Linear with SGD", 0.95),  # 0.975
    ("Learner, linear, cell run twice", 0.95),  # 0.974 (once, as in the book: 0.49 to 0.96, by seed)
    ("Learner, simple_net", 0.97),  # 0.979
])
def test_models_reach_the_chapters_accuracy(book, model, bar):
    assert book.accuracies[model] > bar, book.accuracies


# Measured on the bundled subset, not asserted against the book's bar:
# - "linear1 by hand": 0.94 to 0.97 on most seeds, but 0.598 with seed 42: with the book's `init_params`
#   (std=1.0) and lr=1, the sigmoid saturates and every digit is called a 7 from the second epoch on; running
#   the cell again does not help (the gradient is ~0). The book's data can do the same, on other seeds.
# - "Learner, resnet18": the book trains a ResNet-18 from scratch for one epoch at lr 0.1 (193 mini-batches
#   of 64 on its data); on the bundled subset that epoch is 26 mini-batches, and it reaches 0.51 to 0.62 by seed.
#   Chapter 3 of the course trains the same model for 3 epochs at 3e-3 and asserts 99%.
@needs_book
def test_resnet18_cell_trains_a_resnet_from_scratch(book):
    train_loss, valid_loss = book.resnet_losses
    assert 0 < train_loss < 5 and valid_loss == valid_loss, book.resnet_losses  # finite, and not NaN
    assert 0 <= book.accuracies["Learner, resnet18"] <= 1


def test_cnn_learner_is_vision_learner_under_its_old_name_with_a_deprecation_warning():
    import torch

    from coursekit.loaders import DataLoader, DataLoaders
    from coursekit.models import resnet18
    from coursekit.vision import cnn_learner, vision_learner

    x, y = torch.rand(8, 3, 28, 28), torch.tensor([0, 1] * 4)
    dls = DataLoaders(DataLoader.from_tensors(x, y, bs=4), DataLoader.from_tensors(x, y, bs=4), device="cpu")
    dls.vocab = ["3", "7"]
    with pytest.warns(DeprecationWarning, match="vision_learner"):
        old = cnn_learner(dls, resnet18, pretrained=False, metrics=[])
    new = vision_learner(dls, resnet18, pretrained=False, metrics=[])
    assert [tuple(p.shape) for p in old.model.parameters()] == [tuple(p.shape) for p in new.model.parameters()]
    assert old.model[1][-1].out_features == 2
