"""Tests for coursekit.interpret: confusion matrix, most confused pairs, top losses, and their plots."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from coursekit.interpret import ClassificationInterpretation  # noqa: E402
from coursekit.learner import Learner  # noqa: E402
from coursekit.loaders import DataLoader, DataLoaders  # noqa: E402
from coursekit.utils import set_seed  # noqa: E402

TARGS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
DECODED = [0, 1, 1, 1, 2, 2, 0, 1, 1]
CM = np.array([[1, 2, 0],
               [0, 1, 1],
               [1, 2, 1]])  # by hand: row = actual, column = predicted


class _Dls:
    vocab = ["cat", "dog", "fox"]

    def decode(self, x):
        return x / 2


class _FakeLearner:
    """Just what ClassificationInterpretation uses: `dls` and `get_preds`."""

    def __init__(self):
        self.dls, self.calls = _Dls(), []
        self.preds = F.one_hot(torch.tensor(DECODED), 3).float() * 0.6 + 0.4 / 3
        self.losses = F.nll_loss(self.preds.log(), TARGS, reduction="none")
        self.inputs = torch.rand(9, 3, 4, 4)

    def get_preds(self, ds_idx=1, dl=None, with_input=False, with_loss=False, act=None):
        self.calls.append(dict(ds_idx=ds_idx, dl=dl, with_input=with_input, with_loss=with_loss))
        return self.inputs, self.preds, TARGS, self.losses


def _interp(**kwargs):
    return ClassificationInterpretation.from_learner(_FakeLearner(), **kwargs)


def test_from_learner_asks_for_inputs_and_losses_of_the_chosen_dataset():
    interp = _interp(ds_idx=0)
    assert interp.learn.calls == [dict(ds_idx=0, dl=None, with_input=True, with_loss=True)]
    assert interp.decoded.tolist() == DECODED


def test_confusion_matrix_equals_the_hand_computed_one():
    assert np.array_equal(_interp().confusion_matrix(), CM)


def test_most_confused_lists_off_diagonal_pairs_most_first_with_ties_in_matrix_order():
    assert _interp().most_confused() == [("cat", "dog", 2), ("fox", "dog", 2), ("dog", "fox", 1), ("fox", "cat", 1)]


def test_most_confused_drops_pairs_below_min_val():
    assert _interp().most_confused(min_val=2) == [("cat", "dog", 2), ("fox", "dog", 2)]


def test_top_losses_are_sorted_and_match_the_per_item_losses():
    interp = _interp()
    losses, idxs = interp.top_losses()
    assert len(idxs) == 9 and sorted(idxs.tolist()) == list(range(9))
    assert torch.equal(losses, interp.losses[idxs])
    assert torch.all(losses[:-1] >= losses[1:])
    assert set(idxs[:6].tolist()) == {i for i in range(9) if DECODED[i] != TARGS[i]}  # the mistakes come first


def test_top_losses_k_gives_the_k_largest():
    interp = _interp()
    losses, idxs = interp.top_losses(3)
    assert len(losses) == 3 and losses[0] == interp.losses.max()


def test_vocab_defaults_to_class_numbers_without_a_vocab():
    learn = _FakeLearner()
    learn.dls.vocab = None
    assert ClassificationInterpretation.from_learner(learn).most_confused(min_val=2) == [(0, 1, 2), (2, 1, 2)]


def test_single_output_predictions_are_read_as_probability_of_class_1():
    learn = _FakeLearner()
    learn.dls.vocab = None
    targs = torch.tensor([[1.0], [0.0], [1.0]])
    learn.get_preds = lambda **kw: (torch.zeros(3, 2), torch.tensor([[0.9], [0.7], [0.2]]), targs, torch.ones(3))
    assert np.array_equal(ClassificationInterpretation.from_learner(learn).confusion_matrix(), [[0, 1], [1, 1]])


def test_plot_confusion_matrix_writes_each_count_in_its_cell():
    fig = _interp().plot_confusion_matrix()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [str(v) for v in CM.flatten()]
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "Actual"
    plt.close(fig)


def test_plot_confusion_matrix_normalize_divides_each_row_by_its_total():
    fig = _interp().plot_confusion_matrix(normalize=True)
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["0.33", "0.67", "0.00"]
    plt.close(fig)


def test_plot_top_losses_titles_prediction_actual_loss_and_probability():
    interp = _interp()
    fig = interp.plot_top_losses(4, nrows=2)
    losses, idxs = interp.top_losses(4)
    i = int(idxs[0])
    expected = f"{_Dls.vocab[DECODED[i]]}/{_Dls.vocab[TARGS[i]]}\n{float(losses[0]):.2f}/0.73"
    assert fig.axes[0].get_title() == expected
    shown = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(shown, (interp.inputs[i] / 2).permute(1, 2, 0).numpy())  # images go through dls.decode
    plt.close(fig)


# ---- with the real Learner -------------------------------------------------------------------------

@pytest.fixture
def learn():  # (conftest's autouse `quiet` already turns logging and progress bars off)
    set_seed(0)
    x, y = torch.rand(40, 1, 6, 6), torch.randint(0, 3, (40,))
    dls = DataLoaders(DataLoader.from_tensors(x[:24], y[:24], bs=8, shuffle=True),
                      DataLoader.from_tensors(x[24:], y[24:], bs=5), device="cpu")
    dls.vocab = ["a", "b", "c"]
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    return Learner(dls, model)


def test_interpretation_of_a_real_learner_matches_its_model(learn):
    learn.fit(1)
    interp = ClassificationInterpretation.from_learner(learn)
    x, y = learn.dls.valid.tensors
    learn.model.eval()
    with torch.no_grad():
        out = learn.model(x)
    assert torch.allclose(interp.losses, F.cross_entropy(out, y, reduction="none"), atol=1e-6)
    cm = np.zeros((3, 3), int)
    for a, p in zip(y.tolist(), out.argmax(1).tolist()):
        cm[a, p] += 1
    assert np.array_equal(interp.confusion_matrix(), cm)
    fig = interp.plot_top_losses(6)
    assert len([a for a in fig.axes if a.get_images()]) == 6
    plt.close(fig)
