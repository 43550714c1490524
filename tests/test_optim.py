"""Tests for coursekit.optim: BasicOptim, SGD, Adam and per-group hyper-parameters."""
import pytest
import torch
from torch import nn

from coursekit.optim import SGD, Adam, BasicOptim, OptimWrapper, even_mults, spread_values


def _param(values, grad):
    p = nn.Parameter(torch.tensor(values))
    p.grad = torch.tensor(grad)
    return p


def test_basic_optim_steps_against_the_gradient_and_forgets_it():
    p = _param([1.0, 2.0], [0.5, -1.0])
    opt = BasicOptim([p], lr=0.1)
    opt.step()
    assert torch.allclose(p.data, torch.tensor([0.95, 2.1]))
    opt.zero_grad()
    assert p.grad is None


def test_sgd_without_momentum_matches_basic_optim():
    p1, p2 = _param([1.0, 2.0], [0.5, -1.0]), _param([1.0, 2.0], [0.5, -1.0])
    BasicOptim([p1], 0.1).step()
    SGD([p2], 0.1).step()
    assert torch.equal(p1.data, p2.data)


def test_sgd_accepts_a_parameter_generator_like_the_book():
    model = nn.Linear(3, 1)
    opt = SGD(model.parameters(), 0.5)
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 2


def test_sgd_weight_decay_is_decoupled():
    p = _param([1.0, 2.0], [0.5, -1.0])
    SGD([p], lr=0.1, wd=0.5).step()
    expected = torch.tensor([1.0, 2.0]) * (1 - 0.1 * 0.5) - 0.1 * torch.tensor([0.5, -1.0])
    assert torch.allclose(p.data, expected)


def test_sgd_momentum_accumulates_gradients():
    p = _param([0.0], [1.0])
    opt = SGD([p], lr=1.0, mom=0.9)
    opt.step()
    p.grad = torch.tensor([1.0])
    opt.step()
    assert torch.allclose(p.data, torch.tensor([-1.0 - 1.9]))


def test_adam_has_fastai_defaults_under_fastai_names():
    opt = Adam([nn.Parameter(torch.zeros(1))], lr=0.01)
    assert opt.hypers == [{"lr": 0.01, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.01}]


def test_adam_first_step_matches_the_formula():
    p = _param([1.0, -2.0], [0.5, -0.25])
    Adam([p], lr=0.1).step()
    # after one step the debiased averages are g and g**2, so the update is lr * g / (|g| + eps)
    g = torch.tensor([0.5, -0.25])
    expected = torch.tensor([1.0, -2.0]) * (1 - 0.1 * 0.01) - 0.1 * g / (g.abs() + 1e-5)
    assert torch.allclose(p.data, expected)


def test_set_hyper_mom_changes_adam_beta1():
    opt = Adam([nn.Parameter(torch.zeros(1))])
    opt.set_hyper("mom", 0.8)
    assert opt.param_groups[0]["betas"] == (0.8, 0.99)


def test_sgd_without_momentum_has_no_mom_to_schedule():
    opt = SGD([nn.Parameter(torch.zeros(1))], 0.1)
    assert "mom" not in opt.hypers[0]
    with pytest.raises(KeyError, match="no hyper-parameter 'mom'"):
        opt.set_hyper("mom", 0.9)


def test_set_hyper_spreads_a_slice_geometrically_over_groups():
    opt = Adam([[nn.Parameter(torch.zeros(1))] for _ in range(3)])
    opt.set_hyper("lr", slice(1e-4, 1e-2))
    assert [h["lr"] for h in opt.hypers] == pytest.approx([1e-4, 1e-3, 1e-2])
    opt.set_hyper("lr", slice(1e-2))
    assert [h["lr"] for h in opt.hypers] == pytest.approx([1e-3, 1e-3, 1e-2])


def test_set_hyper_with_wrong_number_of_values_says_so():
    opt = SGD([[nn.Parameter(torch.zeros(1))], [nn.Parameter(torch.zeros(1))]], 0.1)
    with pytest.raises(ValueError, match="3 values"):
        opt.set_hyper("lr", [1, 2, 3])


def test_even_mults_and_spread_values():
    assert even_mults(1, 100, 3) == pytest.approx([1, 10, 100])
    assert even_mults(1, 100, 1) == [100]
    assert spread_values(0.5, 2) == [0.5, 0.5]


def test_wrapper_reads_torch_names_of_any_torch_optimiser():
    opt = OptimWrapper(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9, weight_decay=0.1))
    assert opt.hypers == [{"lr": 0.1, "mom": 0.9, "wd": 0.1}]
