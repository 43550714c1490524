"""Tests for coursekit.schedule: annealing, fit_one_cycle, lr_find, fine_tune."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from coursekit.callbacks import Callback
from coursekit.learner import Learner
from coursekit.loaders import DataLoader, DataLoaders
from coursekit.optim import SGD
from coursekit.schedule import SchedCos, SchedExp, SchedLin, SchedNo, combined_cos, minimum, steep, valley
from coursekit.utils import set_seed


def _dls(n_train=20, n_valid=8, bs=4):
    set_seed(0)
    x = torch.randn(n_train + n_valid, 4)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return DataLoaders(DataLoader.from_tensors(x[:n_train], y[:n_train], bs=bs, shuffle=True),
                       DataLoader.from_tensors(x[n_train:], y[n_train:], bs=bs), device="cpu")


def _three_groups(m):
    return [list(m[0].parameters()), list(m[2].parameters()), list(m[4].parameters())]


def _learner(splitter=None, **kwargs):
    set_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    return Learner(_dls(), model, loss_func=nn.CrossEntropyLoss(), splitter=splitter, **kwargs)


class GroupLrs(Callback):
    """Record every group's lr (and whether each group trains) at each training batch."""

    def before_fit(self):
        self.lrs, self.trains = [], [[p.requires_grad for p in g["params"]] for g in self.opt.param_groups]

    def after_batch(self):
        if self.training:
            self.lrs.append([g["lr"] for g in self.opt.param_groups])


def test_annealers_at_start_middle_end():
    assert [SchedLin(0, 10)(p) for p in (0, 0.5, 1)] == [0, 5, 10]
    assert [SchedCos(0, 10)(p) for p in (0, 0.5, 1)] == pytest.approx([0, 5, 10])
    assert SchedCos(0, 10)(0.25) == pytest.approx(5 * (1 - math.cos(math.pi / 4)))
    assert [SchedExp(1, 100)(p) for p in (0, 0.5, 1)] == pytest.approx([1, 10, 100])
    assert SchedNo(3, 7)(0.9) == 3


def test_combined_cos_switches_at_pct():
    f = combined_cos(0.25, 1.0, 10.0, 0.0)
    assert [f(0), f(0.25), f(1.0)] == pytest.approx([1.0, 10.0, 0.0])
    assert f(0.125) == pytest.approx(5.5)
    assert f(0.625) == pytest.approx(5.0)


def _one_cycle_lr(pos, lr_max, div=25.0, div_final=1e5, pct=0.25):
    cos = lambda a, b, t: a + (b - a) * (1 - math.cos(math.pi * t)) / 2
    if pos < pct:
        return cos(lr_max / div, lr_max, pos / pct)
    return cos(lr_max, lr_max / div_final, (pos - pct) / (1 - pct))


def test_fit_one_cycle_lr_and_mom_follow_the_formula_at_each_batch():
    learn = _learner()
    learn.fit_one_cycle(2, lr_max=0.01)  # 2 epochs x 5 batches
    rec = learn.recorder
    assert len(rec.lrs) == 10
    assert rec.lrs == pytest.approx([_one_cycle_lr(k / 10, 0.01) for k in range(10)])
    moms = [_one_cycle_lr(k / 10, 0.85, div=0.85 / 0.95, div_final=0.85 / 0.95) for k in range(10)]
    assert rec.moms == pytest.approx(moms)


def test_fit_one_cycle_ends_at_lr_max_over_div_final():
    learn = _learner()
    learn.fit_one_cycle(1, lr_max=0.01, pct_start=0.5)
    assert learn.opt.hypers[0]["lr"] == pytest.approx(_one_cycle_lr(0.8, 0.01, pct=0.5))


def test_fit_one_cycle_slice_spreads_lr_max_geometrically_over_groups():
    learn = _learner(splitter=_three_groups)
    cb = GroupLrs()
    learn.fit_one_cycle(2, lr_max=slice(1e-4, 1e-2), pct_start=0.2, cbs=cb)  # batch 2 of 10 is the peak
    assert cb.lrs[2] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert cb.lrs[0] == pytest.approx([1e-4 / 25, 1e-3 / 25, 1e-2 / 25])


def test_fit_one_cycle_with_sgd_without_momentum_schedules_only_lr():
    learn = _learner(opt_func=SGD)
    learn.fit_one_cycle(1, 0.1)
    assert learn.recorder.moms == [] and "mom" not in learn.opt.hypers[0]


def test_lr_find_restores_weights_and_optimiser_state():
    learn = _learner()
    learn.fit(1, lr=1e-3)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt_before = [s["exp_avg"].clone() for s in learn.opt.state.values()]
    learn.lr_find(num_it=30, show_plot=False)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    assert all(torch.equal(a, s["exp_avg"]) for a, s in zip(opt_before, learn.opt.state.values()))
    assert learn.opt.hypers[0]["lr"] == pytest.approx(1e-3)


def test_lr_find_ramps_exponentially_and_suggests_inside_the_range():
    learn = _learner()
    sug = learn.lr_find(start_lr=1e-5, end_lr=10, num_it=40, show_plot=False)
    lrs = learn.recorder.lrs
    assert lrs[:3] == pytest.approx([1e-5 * (1e6) ** (k / 40) for k in range(3)])
    assert sug._fields == ("minimum", "steep", "valley")
    for lr in sug:
        assert 1e-5 <= lr <= lrs[-1]


def test_lr_find_stops_when_the_loss_explodes():
    learn = _learner(opt_func=SGD)
    learn.lr_find(start_lr=1e-3, end_lr=1e6, num_it=100, show_plot=False)
    assert len(learn.recorder.lrs) < 100
    assert learn.recorder.losses[-1] > 4 * min(learn.recorder.losses)


def test_suggestion_functions_on_a_known_curve():
    lrs = np.logspace(-4, 0, 9)
    losses = np.array([5.0, 4.9, 4.5, 3.0, 2.0, 1.5, 1.4, 3.0, 9.0])
    assert minimum(lrs, losses) == (pytest.approx(lrs[6] / 10), 6)
    assert steep(lrs, losses) == (pytest.approx(lrs[2]), 2)  # the 4.5 -> 3.0 drop is the steepest
    assert valley(lrs, losses) == (pytest.approx(lrs[3]), 3)  # decreasing run 0..6, middle at 3


def test_fine_tune_second_phase_uses_discriminative_lrs_from_half_base_lr():
    learn = _learner(splitter=_three_groups)
    cb = GroupLrs()
    learn.add_cb(cb)
    learn.fine_tune(1, base_lr=2e-3, freeze_epochs=1)  # cb keeps the records of the last fit
    lr_max = [1e-3 / 100, 1e-4, 1e-3]  # base_lr/2 spread from /lr_mult to the head
    assert cb.lrs[0] == pytest.approx([lr / 5.0 for lr in lr_max])  # div=5 at the first batch
    assert all(p.requires_grad for p in learn.model.parameters())


def test_fine_tune_first_phase_freezes_the_body():
    learn = _learner(splitter=_three_groups)
    seen = []

    class Spy(Callback):
        def before_fit(self):
            seen.append([all(p.requires_grad for p in g["params"]) for g in self.opt.param_groups])

    learn.add_cb(Spy())
    learn.fine_tune(1)
    assert seen == [[False, False, True], [True, True, True]]


def test_lr_find_plot_marks_each_suggestion_on_a_log_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learn = _learner()
    sug = learn.lr_find(num_it=30)
    ax = plt.gca()
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()[1:]]
    assert labels == [f"{name}: {lr:.2e}" for name, lr in zip(sug._fields, sug)]
    plt.close("all")


def test_the_finder_its_suggestions_and_its_plot_live_together_in_schedule():
    import coursekit.schedule as schedule

    for name in ["LRFinder", "minimum", "steep", "valley", "plot_lr_find", "lr_find"]:
        assert name in schedule.__all__ and getattr(schedule, name).__module__ == "coursekit.schedule"


def test_recorder_plot_lr_find_draws_what_schedule_plot_lr_find_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coursekit.schedule import plot_lr_find

    learn = _learner()
    learn.lr_find(num_it=30, show_plot=False)
    rec = learn.recorder
    marks = {"valley": (1e-3, rec.lrs[10], rec.losses[10])}
    ours, theirs = plot_lr_find(rec, skip_end=5, suggestions=marks), rec.plot_lr_find(skip_end=5, suggestions=marks)
    assert [list(line.get_xdata()) for line in ours.get_lines()] == [list(line.get_xdata()) for line in theirs.get_lines()]
    assert list(ours.get_lines()[0].get_ydata()) == rec.losses[:len(rec.losses) - 5]
    assert ours.get_lines()[1].get_label() == "valley: 1.00e-03" and ours.get_xscale() == "log"
    plt.close("all")


def test_progress_bar_and_results_table_moved_to_progress_and_still_import_from_callbacks(capsys):
    import coursekit.callbacks as callbacks
    import coursekit.progress as progress
    from coursekit.callbacks import ProgressCallback

    assert ProgressCallback is progress.ProgressCallback and "ProgressCallback" in callbacks.__all__
    assert ProgressCallback.__module__ == "coursekit.progress"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchCallback'"):
        callbacks.NoSuchCallback
    learn = _learner()
    assert any(type(cb) is progress.ProgressCallback for cb in learn.cbs)
    learn.logging = True
    learn.fit(1)
    assert isinstance(learn.recorder.table, progress._ResultsTable) and len(learn.recorder.table.rows) == 1
    assert capsys.readouterr().out.split()[:3] == ["epoch", "train_loss", "valid_loss"]
