import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from coursekit.widgets import lr_explorer, plot_sgd_run

T = torch.arange(0, 20).float()
Y = 0.75 * (T - 9.5) ** 2 + 1
INIT = torch.tensor([1.5410, -0.2934, -2.1788])


def test_plot_sgd_run_titles_the_loss_plot_with_lr_and_verdict():
    fig = plot_sgd_run(T, Y, lr=5e-5, steps=20, init=INIT)
    assert fig.axes[1].get_title() == "lr=5e-05: diverging"
    assert fig.run.verdict == "diverging" and len(fig.axes[1].lines[0].get_xdata()) == 20
    plt.close("all")


def test_plot_sgd_run_draws_the_final_prediction():
    fig = plot_sgd_run(T, Y, lr=2e-5, steps=30, init=INIT)
    drawn = fig.axes[0].lines[0].get_ydata()
    a, b, c = fig.run.params
    expected = a * T**2 + b * T + c
    torch.testing.assert_close(torch.as_tensor(drawn), expected)
    plt.close("all")


def test_lr_explorer_redraws_when_the_sliders_move():
    panel = lr_explorer(T, Y, lr=2e-5, steps=30, init=INIT)
    lr_slider, steps_slider = panel.children[0].children
    assert panel.figure.run.verdict == "converging" and panel.children[1].value == "lr=2e-05: converging"
    lr_slider.value = 5e-5
    assert panel.figure.run.verdict == "diverging" and abs(panel.figure.run.lr - 5e-5) < 1e-9
    assert panel.children[1].value == "lr=5e-05: diverging"
    steps_slider.value = 5
    assert len(panel.figure.run.losses) == 5
    plt.close("all")
