"""Tests for coursekit.all: one import brings what the notebooks use; `import coursekit` stays light."""
import subprocess
import sys


def test_star_import_brings_libraries_and_library_names():
    ns: dict = {}
    exec("from coursekit.all import *", ns)
    for name in ["torch", "nn", "F", "np", "array", "pd", "plt", "Image", "Path", "tensor", "first", "to_np",
                 "set_seed", "L", "DataLoader", "DataLoaders", "ImageDataLoaders", "Learner", "SGD", "Adam",
                 "BasicOptim", "accuracy", "error_rate", "batch_accuracy", "mnist_loss", "FocalLoss",
                 "CrossEntropyLossFlat", "Callback", "Recorder", "ParamScheduler", "minimum", "steep", "valley",
                 "simple_net", "vision_learner", "ClassificationInterpretation", "hook_output", "grad_cam"]:
        assert name in ns, name
    assert ns["array"] is ns["np"].array


def test_star_import_brings_the_standard_library_names_fastai_does():
    ns: dict = {}
    exec("from coursekit.all import *", ns)
    import functools
    import string
    for name in ["collections", "functools", "glob", "io", "itertools", "json", "math", "operator", "os", "pickle",
                 "random", "re", "shutil", "string", "sys", "time", "warnings", "matplotlib"]:
        assert type(ns[name]).__name__ == "module" and ns[name].__name__ == name, name
    assert ns["string"].ascii_lowercase == string.ascii_lowercase and ns["partial"] is functools.partial
    for name in ["Counter", "OrderedDict", "defaultdict", "namedtuple", "copy", "deepcopy", "reduce",
                 "attrgetter", "itemgetter", "ndarray", "cnn_learner", "resnet18", "untar_data", "URLs"]:
        assert name in ns, name


def test_star_import_gives_path_an_ls_method_that_returns_an_L(tmp_path):
    ns: dict = {}
    exec("from coursekit.all import *", ns)
    (tmp_path / "b").touch()
    (tmp_path / "a").touch()
    listing = ns["Path"](tmp_path).ls()
    assert isinstance(listing, ns["L"]) and [p.name for p in listing] == ["a", "b"]
    assert [p.name for p in listing.sorted(reverse=True)] == ["b", "a"]  # the book's `.ls().sorted()`
    assert repr(listing).startswith("(#2) [")


def test_path_ls_keeps_only_the_given_extensions_and_at_most_n_max(tmp_path):
    exec("from coursekit.all import *", {})
    for name in ["c.png", "a.png", "b.csv"]:
        (tmp_path / name).touch()
    assert [p.name for p in tmp_path.ls(file_exts=".png")] == ["a.png", "c.png"]
    assert [p.name for p in tmp_path.ls(file_exts=[".csv", ".png"], n_max=2)] == ["a.png", "b.csv"]


def test_base_path_makes_paths_under_it_print_relative_as_in_fastai(tmp_path):
    exec("from coursekit.all import *", {})
    from pathlib import Path, PurePath
    (tmp_path / "train").mkdir()
    assert repr(tmp_path / "train").endswith(f"({(tmp_path / 'train').as_posix()!r})")  # unchanged while unset
    Path.BASE_PATH = tmp_path
    try:
        assert repr(tmp_path.ls()) == "(#1) [Path('train')]"
        assert repr(tmp_path) == "Path('.')"
        assert repr(Path("/elsewhere")) == PurePath.__repr__(Path("/elsewhere"))  # not under it: the usual repr
    finally:
        Path.BASE_PATH = None


def test_plain_import_does_not_load_pandas_or_matplotlib():
    code = ("import sys, coursekit, coursekit.learner, coursekit.loaders; "
            "print('pandas' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
