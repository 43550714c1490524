"""Tests for coursekit.metrics."""
import pytest
import torch

from coursekit.metrics import accuracy, batch_accuracy, error_rate


def test_accuracy_compares_argmax_with_target():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    targs = torch.tensor([1, 1, 1, 0])
    assert accuracy(scores, targs).item() == pytest.approx(0.75)
    assert error_rate(scores, targs).item() == pytest.approx(0.25)


def test_accuracy_accepts_column_targets():
    assert accuracy(torch.tensor([[0.0, 1.0]]), torch.tensor([[1]])).item() == 1.0


def test_batch_accuracy_thresholds_sigmoid_at_half():
    preds = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    targs = torch.tensor([[1], [1], [1], [0]])
    assert batch_accuracy(preds, targs).item() == pytest.approx(0.75)
