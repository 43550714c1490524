import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from coursekit.plots import plot_function, show_image, show_images


def test_show_image_puts_channels_last_for_pytorch_images():
    ax = show_image(torch.rand(3, 5, 7))
    assert ax.images[0].get_array().shape == (5, 7, 3)
    plt.close("all")


def test_show_image_draws_greyscale_with_greys_map_and_title():
    ax = show_image(torch.zeros(4, 4), title="mean 3")
    assert ax.images[0].get_cmap().name == "Greys" and ax.get_title() == "mean 3"
    plt.close("all")


def test_show_images_makes_a_grid_and_hides_spare_axes():
    fig = show_images([torch.zeros(4, 4)] * 5, nrows=2, titles=list("abcde"))
    axes = fig.axes
    assert len(axes) == 6
    assert [a.get_title() for a in axes[:5]] == list("abcde")
    assert not axes[5].axison
    plt.close("all")


def test_plot_function_plots_f_on_the_range():
    ax = plot_function(lambda x: x**2, min=-2, max=2, title="square")
    xs, ys = ax.lines[0].get_data()
    assert xs[0] == -2 and xs[-1] == 2
    np.testing.assert_allclose(ys, xs**2, rtol=1e-6)
    assert ax.get_title() == "square"
    plt.close("all")
