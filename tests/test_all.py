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


def test_star_import_gives_path_an_ls_method(tmp_path):
    ns: dict = {}
    exec("from coursekit.all import *", ns)
    (tmp_path / "b").touch()
    (tmp_path / "a").touch()
    assert [p.name for p in ns["Path"](tmp_path).ls()] == ["a", "b"]


def test_plain_import_does_not_load_pandas_or_matplotlib():
    code = ("import sys, coursekit, coursekit.learner, coursekit.loaders; "
            "print('pandas' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
