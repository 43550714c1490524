import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from coursekit.sgd import least_squares_quadratic, mse, quadratic
from coursekit.widgets import lr_explorer, plot_sgd_run

torch.manual_seed(42)
T = (torch.arange(0, 20).float() - 9.5) / 5.9161
Y = torch.randn(20) * 3 + 0.75 * (5.9161 * T) ** 2 + 1
INIT = torch.tensor([1.5410, -0.2934, -2.1788])


def test_plot_sgd_run_titles_the_loss_plot_with_lr_and_verdict():
    fig = plot_sgd_run(T, Y, lr=0.5, steps=20, init=INIT)
    assert fig.axes[1].get_title() == "lr=0.5: diverging"
    assert fig.run.verdict == "diverging" and len(fig.axes[1].lines[0].get_xdata()) == 20
    plt.close("all")


def test_plot_sgd_run_draws_the_final_prediction_and_the_least_squares_fit():
    fig = plot_sgd_run(T, Y, lr=0.1, steps=30, init=INIT)
    prediction, best = fig.axes[0].lines
    torch.testing.assert_close(torch.as_tensor(prediction.get_ydata()), quadratic(T, fig.run.params))
    torch.testing.assert_close(torch.as_tensor(best.get_ydata()), quadratic(T, least_squares_quadratic(T, Y)))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["measured", "predicted after 30 steps", "best quadratic (least squares)"]
    assert fig.axes[0].get_xlabel() == "time (s)" and fig.axes[0].get_ylabel() == "speed"
    plt.close("all")


def test_plot_sgd_run_compares_the_run_with_the_best_loss():
    fig = plot_sgd_run(T, Y, lr=0.1, steps=30, init=INIT)
    best_loss = mse(quadratic(T, least_squares_quadratic(T, Y)), Y).item()
    assert fig.run.best_loss == pytest.approx(best_loss)
    assert list(fig.axes[1].lines[1].get_ydata()) == [pytest.approx(best_loss)] * 2
    assert fig.run.verdict == "converging" and fig.run.losses[-1] < 1.2 * best_loss
    plt.close("all")


def test_plot_sgd_run_asks_for_best_loss_when_the_model_is_not_the_quadratic():
    line = lambda x, p: p[0] * x + p[1]
    with pytest.raises(ValueError, match="pass best_loss"):
        plot_sgd_run(T, Y, lr=0.1, f=line, init=torch.zeros(2))
    fig = plot_sgd_run(T, Y, lr=0.1, f=line, init=torch.zeros(2), best_loss=1.0)
    assert fig.run.best_loss == 1.0 and len(fig.axes[0].lines) == 1                 # no least-squares curve
    assert fig.axes[2].get_title() == "parameter params[1] at each step"
    plt.close("all")


def test_lr_explorer_redraws_when_the_sliders_move():
    panel = lr_explorer(T, Y, lr=0.1, steps=30, init=INIT, xlabel="time, standardised")
    lr_slider, steps_slider = panel.children[0].children
    assert (lr_slider.min, lr_slider.max) == (-4, 0)
    assert panel.figure.run.verdict == "converging" and panel.children[1].value == "lr=0.1: converging"
    assert panel.figure.axes[0].get_xlabel() == "time, standardised"
    lr_slider.value = 10 ** -0.3
    assert panel.figure.run.verdict == "diverging" and abs(panel.figure.run.lr - 10 ** -0.3) < 1e-9
    assert panel.children[1].value == "lr=0.5: diverging"
    lr_slider.value = 10 ** -0.4
    assert panel.children[1].value == "lr=0.4: bouncing"
    steps_slider.value = 5
    assert len(panel.figure.run.losses) == 5
    plt.close("all")


def test_plot_sgd_run_draws_the_parameter_that_moves_most_and_its_best_value():
    fig = plot_sgd_run(T, Y, lr=0.4, steps=30, init=INIT)
    history = torch.stack(fig.run.history)
    trace, best = fig.axes[2].lines
    torch.testing.assert_close(torch.as_tensor(trace.get_ydata()).float(), history[:, 0])
    assert fig.axes[2].get_title() == "parameter a at each step"
    assert best.get_ydata()[0] == pytest.approx(least_squares_quadratic(T, Y)[0].item())
    assert fig.run.verdict == "bouncing"
    plt.close("all")


# -- chapter 6: lr_verdict, try_lr, plot_lr_trial, lr_finder_explorer ----------------------------------------

def _tiny_learner():
    """A fresh two-layer net on 320 points whose class is the sign of x0 + x1 (plain SGD, 20 batches an epoch)."""
    from torch import nn

    from coursekit.learner import Learner
    from coursekit.loaders import DataLoader, DataLoaders
    from coursekit.metrics import accuracy
    from coursekit.optim import SGD

    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    dls = DataLoaders(DataLoader.from_tensors(x[:320], y[:320], bs=16, shuffle=True),
                      DataLoader.from_tensors(x[320:], y[320:], bs=40), device="cpu")
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), opt_func=SGD, metrics=accuracy)


FINDER = ([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0], [0.9, 0.88, 0.8, 0.5, 0.4, 3.0])


def test_lr_verdict_reads_blow_ups_flat_runs_and_falling_losses():
    from coursekit.widgets import lr_verdict

    assert lr_verdict([0.7, 0.7, 0.7, 0.7, float("nan"), 0.7]) == "diverging"
    assert lr_verdict([0.7, 0.7, 0.7, 1.0, 1.5, 0.6]) == "diverging"      # 1.5 is more than twice the start
    assert lr_verdict([0.7, 0.7, 0.7, 0.7, 0.69, 0.68]) == "too slow"   # 2% lower
    assert lr_verdict([0.7, 0.7, 0.7, 0.5, 0.4, 0.3]) == "good"
    with pytest.raises(ValueError, match="at least 6 batch losses"):
        lr_verdict([0.7, 0.6])


def test_try_lr_trains_a_fresh_seeded_learner_each_time_and_judges_the_rate():
    from coursekit.widgets import try_lr

    good, again = try_lr(_tiny_learner, 1.0), try_lr(_tiny_learner, 1.0)
    assert good.verdict == "good" and good.losses == again.losses and len(good.losses) == 20
    assert good.accuracy >= 0.9
    assert try_lr(_tiny_learner, 1e-4).verdict == "too slow"
    assert try_lr(_tiny_learner, 300.0).verdict == "diverging"


def test_plot_lr_trial_marks_the_rate_on_the_finder_and_titles_the_run_with_its_verdict():
    from coursekit.widgets import plot_lr_trial

    fig = plot_lr_trial(FINDER, 1.0, _tiny_learner, suggestions={"valley": 0.1})
    ax_find, ax_run = fig.axes
    curve, marker = ax_find.lines[0], ax_find.lines[-1]
    assert list(curve.get_xdata()) == FINDER[0] and ax_find.get_xscale() == "log"
    assert list(marker.get_xdata()) == [1.0] and marker.get_ydata()[0] == pytest.approx(0.4)
    assert [t.get_text() for t in ax_find.get_legend().get_texts()] == ["valley 1.0e-01", "picked 1.0e+00"]
    assert ax_run.get_title() == f"lr=1: good (accuracy {fig.trial.accuracy:.2f})"
    assert list(ax_run.lines[0].get_ydata()) == pytest.approx(fig.trial.losses)
    plt.close("all")
    assert plot_lr_trial(FINDER, 1e-2).trial is None
    plt.close("all")


def test_lr_finder_explorer_moves_the_marker_and_trains_on_the_button():
    from coursekit.widgets import lr_finder_explorer

    panel = lr_finder_explorer(FINDER, _tiny_learner, suggestions={"valley": 0.1}, lr=1.0)
    lr_slider, button = panel.children[0].children
    assert (lr_slider.min, lr_slider.max) == (-4, 1)
    assert panel.children[1].value == "lr=1: good" and panel.trial.verdict == "good"
    first = panel.trial
    lr_slider.value = 100.0                                                # past the end: the slider stops at 10
    assert panel.trial is first and list(panel.figure.axes[0].lines[-1].get_xdata()) == [pytest.approx(10.0)]
    lr_slider.value = 10.0
    button.click()
    assert panel.trial.lr == pytest.approx(10.0) and panel.children[1].value == "lr=10: diverging"
    assert panel.figure.axes[1].get_title().startswith("lr=10: diverging")
    plt.close("all")


# -- chapter 9: the CAM panel ----------------------------------------------------------------------------------

def _cam_model():
    """A two-class model in lesson 7's form whose class 1 ("bright") map is high on bright pixels."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])[:, :, None, None])
        conv.bias.copy_(torch.tensor([1.5, -1.5]))
    return torch.nn.Sequential(torch.nn.Sequential(torch.nn.Identity()),
                               torch.nn.Sequential(conv, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())).eval()


def _cam_images():
    x = torch.zeros(3, 3, 8, 8)
    x[0, :, :2, :2] = 1.0          # a bright corner, top left
    x[1, :, 5:, 5:] = 1.0          # bottom right
    x[2] = 0.9                     # bright everywhere
    return x


def test_cam_maps_gives_normalised_maps_of_every_class_at_the_image_size():
    from coursekit.widgets import cam_maps

    maps = cam_maps(_cam_model(), _cam_images(), 2)
    assert maps.shape == (3, 2, 8, 8) and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert maps[0, 1, :2, :2].mean() > 0.9 and maps[0, 0, :2, :2].mean() < 0.1
    model = _cam_model()
    assert cam_maps(model, _cam_images(), 2, method="grad_cam", layer=model[0]).shape == (3, 2, 8, 8)
    with pytest.raises(ValueError, match="'cam' or 'grad_cam'"):
        cam_maps(_cam_model(), _cam_images(), 2, method="gradcam")


def test_cam_explorer_redraws_when_the_class_or_the_image_changes_and_says_the_probability():
    from coursekit.widgets import cam_explorer

    panel = cam_explorer(_cam_model(), _cam_images(), ["dark", "bright"], labels=torch.tensor([0, 0, 1]))
    slider, toggle, label = panel.children[0].children[0], panel.children[1], panel.children[2]
    probs = torch.softmax(_cam_model()(_cam_images()), 1)
    first = panel.figure
    assert toggle.value == int(probs[0].argmax()) and label.value == panel.text
    assert panel.text == f"dark: probability {probs[0, 0]:.2f} (image 0, predicted dark)"
    toggle.value = 1
    assert panel.figure is not first and panel.text.startswith(f"bright: probability {probs[0, 1]:.2f}")
    assert panel.figure.axes[1].get_title() == "map of bright"
    slider.value = 2
    assert panel.text == f"bright: probability {probs[2, 1]:.2f} (image 2, predicted bright)"
    assert panel.figure.axes[0].get_title() == "image (label: bright)"
    plt.close("all")
