"""Tests for the callback protocol's messages: the mistakes a student makes writing a first callback never fail silently."""
import warnings

import pytest
import torch
from torch import nn

from coursekit.callbacks import Callback
from coursekit.learner import Learner
from coursekit.loaders import DataLoader, DataLoaders
from coursekit.losses import CrossEntropyLossFlat


def _learner(cbs=None):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=g)
    y = (x[:, 0] > 0).long()
    dls = DataLoaders(DataLoader.from_tensors(x[:8], y[:8], bs=4), DataLoader.from_tensors(x[8:], y[8:], bs=4),
                      device="cpu")
    learn = Learner(dls, nn.Linear(4, 2), loss_func=CrossEntropyLossFlat(), cbs=cbs)
    learn.logging = learn.progress = False
    return learn


class DoubleLossWrongly(Callback):
    def after_loss(self):
        self.loss = self.loss * 2


class DoubleLossRightly(Callback):
    def after_loss(self):
        self.learn.loss = self.loss * 2


def test_assigning_a_learner_attribute_on_the_callback_warns_naming_self_learn():
    learn = _learner(DoubleLossWrongly())
    with pytest.warns(UserWarning, match=r"self\.learn\.loss = \.\.\.") as record:
        learn.fit(1)
    assert "DoubleLossWrongly" in str(record[0].message)
    assert learn.double_loss_wrongly.__dict__["loss"] is not learn.loss  # what the warning says happened


def test_assigning_through_self_learn_changes_the_learner_without_a_warning():
    seen = []

    class See(Callback):
        order = 1

        def after_loss(self):
            seen.append(self.learn.loss)

    learn = _learner([DoubleLossRightly(), See()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learn.fit(1)
    assert "loss" not in learn.double_loss_rightly.__dict__
    assert seen[-1] is learn.loss


def test_callback_attributes_of_its_own_do_not_warn():
    class Counter(Callback):
        def before_fit(self):
            self.count = 0

        def after_batch(self):
            self.count += 1

    learn = _learner(Counter())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learn.fit(2)
    assert learn.counter.count == 2 * (2 + 2)  # 2 epochs of 2 training and 2 validation batches


def test_callback_keeping_its_own_loop_state_warns_when_added():
    class KeepsLoss(Callback):
        def __init__(self):
            self.loss = None

    with pytest.warns(UserWarning, match=r"KeepsLoss has an attribute `loss`.*self\.learn\.loss"):
        _learner(KeepsLoss())


def test_misspelt_event_method_is_refused_with_did_you_mean():
    class Typo(Callback):
        def after_bacth(self):
            pass

    with pytest.raises(AttributeError, match=r"Typo\.after_bacth is not an event.*did you mean 'after_batch'"):
        _learner(Typo())
    learn = _learner()
    with pytest.raises(AttributeError, match="after_bacth"):
        learn.add_cb(Typo)


def test_event_like_name_far_from_every_event_lists_the_events():
    class Odd(Callback):
        def before_everything_else(self):
            pass

    with pytest.raises(AttributeError, match=r"the events are before_fit, .*cleanup"):
        _learner(Odd())


def test_unknown_event_on_the_learner_is_a_clear_error_not_a_key_error():
    learn = _learner()
    with pytest.raises(ValueError, match=r"'after_bacth' is not an event: did you mean 'after_batch'") as e:
        learn("after_bacth")
    assert not isinstance(e.value, KeyError)


def test_real_events_still_fire_after_the_checks():
    calls = []

    class Log(Callback):
        def after_batch(self):
            calls.append(self.training)

    learn = _learner(Log())
    learn("after_batch")
    learn.fit(1)
    assert calls == [False, True, True, False, False]
