"""Tests for coursekit.losses."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit.losses import (CrossEntropyLossFlat, FocalLoss, focal_loss, loss_activation, mnist_loss,
                              weighted_cross_entropy)

SCORES = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-1.0, 3.0, 0.0]])
TARGS = torch.tensor([0, 2, 1])


def test_mnist_loss_is_distance_of_sigmoid_to_target():
    preds, targs = torch.tensor([0.0, 2.0, -2.0]), torch.tensor([1, 0, 1])
    s = 1 / (1 + math.exp(-2.0))
    expected = [0.5, s, s]  # 1-sigmoid(0), sigmoid(2), 1-sigmoid(-2)
    assert torch.allclose(mnist_loss(preds, targs, reduction="none"), torch.tensor(expected))
    assert mnist_loss(preds, targs).item() == pytest.approx(sum(expected) / 3)


def test_mnist_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        mnist_loss(torch.zeros(2), torch.zeros(2), reduction="avg")


def test_cross_entropy_flat_matches_pytorch_and_flattens_targets():
    assert torch.allclose(CrossEntropyLossFlat()(SCORES, TARGS[:, None]), F.cross_entropy(SCORES, TARGS))


def test_cross_entropy_flat_with_class_axis_1_matches_pytorch_on_images():
    scores, targs = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    assert torch.allclose(CrossEntropyLossFlat(axis=1)(scores, targs), F.cross_entropy(scores, targs))


def test_weighted_cross_entropy_weights_classes():
    w = torch.tensor([1.0, 2.0, 5.0])
    assert torch.allclose(weighted_cross_entropy(w)(SCORES, TARGS), F.cross_entropy(SCORES, TARGS, weight=w))


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    assert torch.allclose(focal_loss(SCORES, TARGS, gamma=0), F.cross_entropy(SCORES, TARGS))
    w = torch.tensor([1.0, 2.0, 5.0])
    assert torch.allclose(focal_loss(SCORES, TARGS, gamma=0, weight=w), F.cross_entropy(SCORES, TARGS, weight=w))


def test_focal_loss_scales_each_item_by_one_minus_p_to_gamma():
    p = F.softmax(SCORES, dim=1)[torch.arange(3), TARGS]
    expected = -((1 - p) ** 2) * p.log()
    assert torch.allclose(FocalLoss(gamma=2.0, reduction="none")(SCORES, TARGS), expected)
    assert torch.allclose(FocalLoss()(SCORES, TARGS), expected.mean())


def test_losses_give_one_value_per_item_with_reduction_none():
    assert CrossEntropyLossFlat(reduction="none")(SCORES, TARGS).shape == (3,)
    assert focal_loss(SCORES, TARGS, reduction="sum").shape == ()


def test_loss_activation_rules():
    x = torch.tensor([[0.0, 1.0]])
    softmax = F.softmax(x, dim=-1)
    for loss in [CrossEntropyLossFlat(), FocalLoss(), nn.CrossEntropyLoss(), F.cross_entropy]:
        assert torch.allclose(loss_activation(loss)(x), softmax)
    for loss in [mnist_loss, nn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits]:
        assert torch.allclose(loss_activation(loss)(x), torch.sigmoid(x))
    assert torch.equal(loss_activation(F.mse_loss)(x), x)
