import torch

from coursekit.sgd import describe_run, gradient_descent, mse, quadratic


def _coaster():
    torch.manual_seed(42)
    t = torch.arange(0, 20).float()
    return t, torch.randn(20) * 3 + 0.75 * (t - 9.5) ** 2 + 1


def test_quadratic_and_mse_on_known_values():
    assert quadratic(torch.tensor([2.0]), torch.tensor([1.0, 2.0, 3.0])).item() == 11.0
    assert mse(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == 5.0


def test_one_step_follows_the_update_rule():
    t, y = _coaster()
    p0 = torch.tensor([1.0, -1.0, 0.5])
    p = p0.clone().requires_grad_()
    mse(quadratic(t, p), y).backward()
    run = gradient_descent(quadratic, p0, t, y, lr=1e-5, steps=1)
    torch.testing.assert_close(run.params, p0 - 1e-5 * p.grad)


def test_gradient_descent_leaves_the_callers_params_alone():
    t, y = _coaster()
    p0 = torch.tensor([1.0, -1.0, 0.5])
    gradient_descent(quadratic, p0, t, y, lr=1e-5, steps=3)
    assert p0.tolist() == [1.0, -1.0, 0.5] and p0.grad is None


def test_run_records_a_loss_and_params_for_every_step():
    t, y = _coaster()
    run = gradient_descent(quadratic, torch.zeros(3), t, y, lr=1e-5, steps=7)
    assert len(run.losses) == 7 and len(run.preds) == 7 and len(run.history) == 8


def test_verdicts_for_the_three_regimes():
    t, y = _coaster()
    init = torch.tensor([1.5410, -0.2934, -2.1788])
    verdict = lambda lr: gradient_descent(quadratic, init, t, y, lr=lr, steps=30).verdict
    assert verdict(1e-7) == "too slow"
    assert verdict(2e-5) == "converging"
    assert verdict(3e-5) == "bouncing"
    assert verdict(5e-5) == "diverging"


def test_describe_run_on_hand_made_curves():
    assert describe_run([4.0, 2.0, 1.0, 0.5]) == "converging"
    assert describe_run([4.0, 3.9, 3.8]) == "too slow"
    assert describe_run([4.0, 2.0, 3.0, 1.0]) == "bouncing"
    assert describe_run([1.0, 2.0, float("inf")]) == "diverging"
    zigzag = torch.tensor([[0.0], [2.0], [-1.0], [1.0], [-0.5]])
    assert describe_run([4.0, 2.0, 1.0, 0.5, 0.2], zigzag) == "bouncing"
