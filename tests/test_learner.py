"""Tests for coursekit.learner and coursekit.callbacks: the loop, its events, and what it records."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit.callbacks import (Callback, CancelBatchException, CancelFitException, CancelStepException,
                                 MixedPrecision)
from coursekit.learner import Learner
from coursekit.loaders import DataLoader, DataLoaders
from coursekit.losses import CrossEntropyLossFlat
from coursekit.metrics import accuracy
from coursekit.optim import SGD, BasicOptim
from coursekit.utils import set_seed


def _data(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] - x[:, 1] > 0).long()


def _dls(n_train=16, n_valid=8, bs=8):
    x, y = _data(n_train + n_valid)
    return DataLoaders(DataLoader.from_tensors(x[:n_train], y[:n_train], bs=bs, shuffle=True),
                       DataLoader.from_tensors(x[n_train:], y[n_train:], bs=bs), device="cpu")


def _model():
    set_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def _body_head(m):
    return [list(m[0].parameters()) + list(m[1].parameters()), list(m[3].parameters())]


def _learner(**kwargs):
    kwargs.setdefault("loss_func", CrossEntropyLossFlat())
    return Learner(_dls(), _model(), **kwargs)


EVENT_NAMES = ["before_fit", "before_epoch", "before_train", "before_batch", "after_pred", "after_loss",
               "before_backward", "after_backward", "before_step", "after_step", "after_batch", "after_train",
               "before_validate", "after_validate", "after_epoch", "after_fit"]


def _writer(name):
    return lambda self: self.events.append(name)


# A callback with one method per event, each writing its name down.
EventLog = type("EventLog", (Callback,), {"events": None, **{e: _writer(e) for e in EVENT_NAMES}})


def test_callbacks_fire_in_order():
    log = EventLog()
    log.events = []
    learn = Learner(_dls(n_train=16, n_valid=4, bs=8), _model(), loss_func=F.cross_entropy, cbs=log)
    learn.fit(1)
    batch = ["before_batch", "after_pred", "after_loss", "before_backward", "after_backward",
             "before_step", "after_step", "after_batch"]
    valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
    assert learn.event_log.events == ["before_fit", "before_epoch", "before_train", *batch, *batch, "after_train",
                                      "before_validate", *valid_batch, "after_validate", "after_epoch", "after_fit"]


def test_callback_reads_learner_attributes_and_is_named_after_its_class():
    class SeeModel(Callback):
        def before_fit(self):
            self.seen = self.model

    learn = _learner(cbs=SeeModel())
    learn.fit(1)
    assert learn.see_model.seen is learn.model


def test_cancel_step_skips_the_update_but_not_after_batch():
    class NoStep(Callback):
        def before_fit(self):
            self.n = 0

        def before_step(self):
            raise CancelStepException

        def after_batch(self):
            self.n += 1

    learn = _learner(cbs=NoStep())
    w = learn.model[3].weight.detach().clone()
    learn.fit(1)
    assert torch.equal(learn.model[3].weight, w)
    assert learn.no_step.n == 3  # 2 training + 1 validation batch


def test_cancel_fit_stops_training_and_still_runs_after_fit():
    class StopAfterOne(Callback):
        order = 90  # after the Recorder, so that the epoch is recorded

        def after_epoch(self):
            raise CancelFitException

        def after_fit(self):
            self.done = True

    learn = _learner(cbs=StopAfterOne())
    learn.fit(5)
    assert len(learn.recorder.values) == 1 and learn.stop_after_one.done


def test_cancel_batch_skips_the_rest_of_the_batch():
    class SkipAll(Callback):
        def after_loss(self):
            if self.training:
                raise CancelBatchException

    learn = _learner(cbs=SkipAll())
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1)
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


def test_recorder_keeps_one_row_per_epoch_and_values_per_batch():
    learn = _learner(metrics=accuracy)
    learn.fit(3, lr=0.01)
    rec = learn.recorder
    assert len(rec.values) == 3 and all(len(row) == 3 for row in rec.values)
    assert len(rec.losses) == len(rec.lrs) == 6 and rec.lrs == [0.01] * 6
    assert rec.values[-1][0] == rec.losses[-1]
    assert rec.metric_names == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]


def test_recorder_smooths_losses_with_debiased_moving_average():
    raw = []

    class Raw(Callback):
        def after_loss(self):
            if self.training:
                raw.append(self.loss.item())

    learn = _learner(cbs=Raw())
    learn.fit(2)
    avg, expected = 0.0, []
    for i, loss in enumerate(raw, 1):
        avg = 0.98 * avg + 0.02 * loss
        expected.append(avg / (1 - 0.98**i))
    assert learn.recorder.losses == pytest.approx(expected)


def test_validate_matches_a_manual_pass_over_the_validation_set():
    learn = _learner(metrics=accuracy)
    learn.fit(1)
    learn.model.eval()
    x, y = learn.dls.valid.tensors
    with torch.no_grad():
        out = learn.model(x)
    loss, acc = learn.validate()
    assert loss == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    assert acc == pytest.approx(accuracy(out, y).item())


def test_get_preds_matches_a_manual_forward_pass():
    learn = _learner()
    learn.fit(1)
    learn.model.eval()
    x, y = learn.dls.valid.tensors
    with torch.no_grad():
        expected = F.softmax(learn.model(x), dim=-1)
    inp, preds, targs, losses = learn.get_preds(with_input=True, with_loss=True)
    assert torch.allclose(preds, expected) and torch.equal(targs, y) and torch.equal(inp, x)
    assert torch.allclose(losses, F.cross_entropy(learn.model(x), y, reduction="none"))
    assert learn.loss_func.reduction == "mean"


def test_get_preds_on_training_set_keeps_item_order():
    learn = _learner()
    _, targs = learn.get_preds(ds_idx=0)
    assert torch.equal(targs, learn.dls.train.tensors[1])


def test_get_preds_with_loss_on_function_loss_and_custom_act():
    learn = Learner(_dls(), _model(), loss_func=F.cross_entropy)
    preds, _, losses = learn.get_preds(with_loss=True, act=lambda x: x)
    assert losses.shape == (8,) and preds.shape == (8, 2)


def test_training_lowers_the_loss():
    learn = _learner(metrics=accuracy)
    first = learn.validate()[0]
    learn.fit(10, lr=0.05)
    assert learn.validate()[0] < first


def test_freeze_leaves_body_bit_identical_while_head_changes():
    learn = _learner(splitter=_body_head, train_bn=False)
    learn.freeze()
    body = [p.detach().clone() for p in _body_head(learn.model)[0]]
    head = [p.detach().clone() for p in _body_head(learn.model)[1]]
    learn.fit(1, lr=0.1)
    assert all(torch.equal(a, b) for a, b in zip(body, _body_head(learn.model)[0]))
    assert not all(torch.equal(a, b) for a, b in zip(head, _body_head(learn.model)[1]))


def test_freeze_keeps_batchnorm_trainable_with_train_bn():
    learn = _learner(splitter=_body_head)
    learn.freeze()
    assert not learn.model[0].weight.requires_grad
    assert learn.model[1].weight.requires_grad and learn.model[3].weight.requires_grad


def test_unfreeze_makes_everything_trainable():
    learn = _learner(splitter=_body_head)
    learn.freeze()
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())


def test_freeze_with_one_group_asks_for_a_splitter():
    with pytest.raises(ValueError, match="splitter"):
        _learner().freeze()


def test_save_and_load_restore_weights_and_optimiser(tmp_path):
    learn = _learner(path=tmp_path)
    learn.fit(1)
    file = learn.save("one")
    assert file == tmp_path / "models" / "one.pth" and file.exists()
    other = _learner(path=tmp_path)
    other.load("one")
    assert all(torch.equal(a, b) for a, b in zip(learn.model.state_dict().values(), other.model.state_dict().values()))
    assert other.opt.state_dict()["state"].keys() == learn.opt.state_dict()["state"].keys()


def test_load_of_a_missing_name_lists_the_saved_ones(tmp_path):
    learn = _learner(path=tmp_path)
    learn.save("kept")
    with pytest.raises(FileNotFoundError, match="kept"):
        learn.load("lost")


def test_to_fp16_on_cpu_warns_and_trains_like_fp32(monkeypatch):
    monkeypatch.setattr(MixedPrecision, "_warned", False)
    a, b = _learner(), _learner().to_fp16()
    set_seed(1)
    a.fit(1)
    set_seed(1)
    with pytest.warns(UserWarning, match="float32"):
        b.fit(1)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert isinstance(b.mixed_precision, MixedPrecision)
    assert not hasattr(b.to_fp32(), "mixed_precision")


def test_mixed_precision_mechanism_scales_the_loss_and_steps_through_the_scaler():
    learn = _learner().to_fp16(cpu_dtype=torch.bfloat16)  # the CUDA code path, forced on the CPU

    class Spy(Callback):
        order = 20  # after MixedPrecision's events

        def before_fit(self):
            self.dtypes, self.scaled = [], []

        def after_pred(self):
            self.dtypes.append(self.pred.dtype)

        def before_backward(self):
            self.scaled.append(self.learn.loss_grad.item() / self.loss.item())

    learn.add_cb(Spy())
    w = learn.model[3].weight.detach().clone()
    learn.fit(1)
    assert learn.spy.dtypes[0] == torch.bfloat16
    assert learn.spy.scaled[0] == pytest.approx(learn.mixed_precision.scaler.get_scale(), rel=1e-2)
    assert not torch.equal(w, learn.model[3].weight)
    assert not torch.is_autocast_enabled("cpu")  # autocast was left after each batch


def test_predict_returns_class_name_index_and_probabilities():
    learn = _learner()
    learn.dls.vocab = ["left", "right"]
    x = learn.dls.valid.tensors[0][0]
    name, idx, probs = learn.predict(x)
    assert name == ["left", "right"][idx] and idx == int(probs.argmax())
    assert probs.sum().item() == pytest.approx(1.0)


def test_basic_optim_as_opt_func_points_to_sgd():
    with pytest.raises(TypeError, match="opt_func=SGD"):
        _learner(opt_func=BasicOptim).fit(1)


def test_torch_optimiser_class_works_as_opt_func():
    learn = _learner(opt_func=torch.optim.SGD, lr=0.1)
    learn.fit(1)
    assert learn.opt.hypers[0]["lr"] == 0.1


def test_missing_loss_func_without_vocab_says_what_to_pass():
    with pytest.raises(ValueError, match="loss_func"):
        Learner(_dls(), _model())


def test_learner_trains_from_plain_pytorch_dataloaders():
    x, y = _data()
    tdl = torch.utils.data.DataLoader(list(zip(x[:16], y[:16])), batch_size=8)
    vdl = torch.utils.data.DataLoader(list(zip(x[16:], y[16:])), batch_size=8)
    learn = Learner(DataLoaders(tdl, vdl, device="cpu"), _model(), loss_func=F.cross_entropy, opt_func=SGD)
    learn.fit(1, lr=0.1)
    assert len(learn.recorder.values) == 1


def test_results_table_is_printed_when_logging_is_on(capsys):
    learn = _learner(metrics=accuracy)
    learn.logging = True
    learn.fit(2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]


def test_no_logging_prints_nothing(capsys):
    learn = _learner()
    learn.logging = True
    with learn.no_logging(), warnings.catch_warnings():
        learn.fit(1)
    assert capsys.readouterr().out == ""


def test_recorder_plots_label_their_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learn = _learner()
    learn.fit(3)
    ax = learn.recorder.plot_loss(skip_start=0)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "valid"]
    assert list(ax.get_lines()[1].get_xdata()) == [2, 4, 6]  # valid loss at the end of each epoch
    assert learn.recorder.plot_lr().get_ylabel() == "learning rate"
    assert [a.get_ylabel() for a in learn.recorder.plot_sched()] == ["learning rate", "momentum"]
    plt.close("all")


# ---- the chapter-4 models on the real 3-vs-7 sample ----------------------------------------------

@pytest.fixture(scope="module")
def mnist_3_7():
    """Return (train_x, train_y, valid_x, valid_y): flattened pixels in [0, 1], targets 1 for a 3."""
    from coursekit.data import URLs, untar_data
    from coursekit.loaders import ImageDataLoaders

    dls = ImageDataLoaders.from_folder(untar_data(URLs.MNIST_SAMPLE), convert="L", device="cpu")
    three = dls.vocab.index("3")
    xs = [dl.tensors[0].float().div(255).view(-1, 28 * 28) for dl in (dls.train, dls.valid)]
    ys = [(dl.tensors[1] == three).float()[:, None] for dl in (dls.train, dls.valid)]
    return xs[0], ys[0], xs[1], ys[1]


def _book_dls(x, y, vx, vy, bs):
    """Build the loaders as chapter 4 does: DataLoader over list(zip(x, y))."""
    return DataLoaders(DataLoader(list(zip(x, y)), bs=bs, shuffle=True), DataLoader(list(zip(vx, vy)), bs=bs),
                       device="cpu")


def test_linear_model_with_sgd_reaches_97_percent_on_3_vs_7(mnist_3_7):
    from coursekit.losses import mnist_loss
    from coursekit.metrics import batch_accuracy

    set_seed(42)
    learn = Learner(_book_dls(*mnist_3_7, bs=256), nn.Linear(28 * 28, 1), opt_func=SGD, loss_func=mnist_loss,
                    metrics=batch_accuracy)
    learn.fit(20, lr=1.0)
    assert learn.validate()[1] >= 0.97


def test_simple_net_reaches_98_percent_on_3_vs_7(mnist_3_7):
    from coursekit.losses import mnist_loss
    from coursekit.metrics import batch_accuracy

    from coursekit.models import simple_net

    set_seed(42)
    learn = Learner(_book_dls(*mnist_3_7, bs=64), simple_net(), opt_func=SGD, loss_func=mnist_loss,
                    metrics=batch_accuracy)
    learn.fit(40, lr=0.1)
    assert learn.validate()[1] >= 0.98
