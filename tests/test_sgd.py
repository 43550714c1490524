import torch

from coursekit.sgd import describe_run, gradient_descent, least_squares_quadratic, mse, quadratic


def _coaster():
    torch.manual_seed(42)
    t = torch.arange(0, 20).float()
    return t, torch.randn(20) * 3 + 0.75 * (t - 9.5) ** 2 + 1


def _best_loss(t, y):
    return mse(quadratic(t, least_squares_quadratic(t, y)), y).item()


INIT = torch.tensor([1.5410, -0.2934, -2.1788])


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


def test_least_squares_quadratic_recovers_an_exact_parabola():
    x = torch.arange(5).float()
    torch.testing.assert_close(least_squares_quadratic(x, 2 * x**2 - 3 * x + 1), torch.tensor([2.0, -3.0, 1.0]))


def test_least_squares_quadratic_beats_every_nearby_quadratic():
    t, y = _coaster()
    best = least_squares_quadratic(t, y)
    for i in range(3):
        for nudge in (-1e-3, 1e-3):
            moved = best.clone()
            moved[i] += nudge
            assert mse(quadratic(t, moved), y) > mse(quadratic(t, best), y)


def test_standardising_the_input_keeps_the_best_loss():
    t, y = _coaster()
    assert abs(_best_loss(t, y) - _best_loss((t - t.mean()) / t.std(), y)) < 1e-3


def test_the_raw_coaster_stalls_far_from_the_best_fit():
    t, y = _coaster()
    run = gradient_descent(quadratic, INIT, t, y, lr=1e-5, steps=30, best_loss=_best_loss(t, y))
    assert run.verdict == "stalled" and run.losses[-1] > 50 * run.best_loss


def test_verdicts_for_the_four_regimes_on_the_standardised_coaster():
    t, y = _coaster()
    t = (t - t.mean()) / t.std()
    best = _best_loss(t, y)
    verdict = lambda lr: gradient_descent(quadratic, INIT, t, y, lr=lr, steps=30, best_loss=best).verdict
    assert verdict(1e-3) == "too slow"
    assert verdict(0.1) == "converging"
    assert verdict(0.4) == "bouncing"
    assert verdict(0.5) == "diverging"


def test_describe_run_on_hand_made_curves():
    assert describe_run([4.0, 2.0, 1.0, 0.55], best_loss=0.5) == "converging"
    assert describe_run([4.0, 1.2], best_loss=1.0) == "converging"           # exactly 20% above the best
    assert describe_run([4.0, 1.21], best_loss=1.0) == "too slow"            # just beyond, and still falling fast
    assert describe_run([4.0, 2.0, 1.0, 0.5]) == "too slow"                  # best_loss 0: halving is not enough
    assert describe_run([4.0, 2.0, 1.0, 1e-7]) == "converging"
    assert describe_run([100.0, 20.0, 10.05, 10.0], best_loss=1.0) == "stalled"
    assert describe_run([100.0, 20.0, 10.5, 10.0], best_loss=1.0) == "too slow"   # its last step closed 5%
    assert describe_run([100.0, 99.9, 99.85], best_loss=1.0) == "too slow"        # flat, but far from halfway
    assert describe_run([4.0, 3.9, 3.8]) == "too slow"
    assert describe_run([4.0, 2.0, 3.0, 1.0], best_loss=1.0) == "bouncing"
    assert describe_run([1.0, 2.0, float("inf")]) == "diverging"
    assert describe_run([1.0, 0.5, 1.5]) == "diverging"
    assert describe_run([1.0]) == "too short to tell"
    zigzag = torch.tensor([[0.0], [2.0], [-1.0], [1.0], [-0.5]])
    assert describe_run([4.0, 2.0, 1.0, 0.5, 0.2], zigzag, best_loss=0.2) == "bouncing"
