"""Tests for coursekit.cam: CAM and Grad-CAM on a model whose right answer is known."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from coursekit.cam import (cam_peak, class_activation_map, grad_cam, normalize_cam, pointing_game,  # noqa: E402
                           resize_cam, show_cam)
from coursekit.models import cifar_resnet  # noqa: E402


def _spot_model():
    """Channel 0 fires on bright pixels, channel 1 on dark ones; class 1 = bright minus dark, class 0 the opposite."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.stack([torch.full((1, 3, 3), 1 / 9), torch.full((1, 3, 3), -1 / 9)]))
        conv.bias.copy_(torch.tensor([0.0, 1.0]))
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))
        fc.bias.copy_(torch.tensor([-0.9, 0.9]))
    return nn.Sequential(nn.Sequential(conv, nn.ReLU()), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc))


def _image(top: int, left: int, size: int = 16):
    x = torch.zeros(1, 1, size, size)
    x[..., top:top + 4, left:left + 4] = 1.0
    return x


def _peak(cam):
    h, w = cam.shape[-2:]
    i = int(cam.flatten().argmax())
    return i // w, i % w


def test_the_spot_model_says_class_1_only_when_there_is_a_bright_square():
    m = _spot_model()
    assert m(_image(2, 2)).argmax(1).item() == 1
    assert m(torch.zeros(1, 1, 16, 16)).argmax(1).item() == 0


@pytest.mark.parametrize("top,left", [(2, 2), (10, 11), (1, 2), (11, 10)])
@pytest.mark.parametrize("method", [class_activation_map, grad_cam])
def test_cam_and_grad_cam_of_class_1_peak_on_the_bright_square(method, top, left):
    r, c = _peak(method(_spot_model(), _image(top, left), target=1)[0])
    assert top <= r < top + 4 and left <= c < left + 4


def test_cam_in_the_top_left_quadrant_peaks_in_that_quadrant_and_its_default_target_is_the_prediction():
    x = _image(1, 2)
    cam = class_activation_map(_spot_model(), x)
    r, c = _peak(cam[0])
    assert r < 8 and c < 8
    assert torch.equal(cam, class_activation_map(_spot_model(), x, target=1))


def test_cam_of_the_other_class_is_lowest_on_the_square():
    cam = class_activation_map(_spot_model(), _image(2, 2), target=0)[0]
    i = int(cam.flatten().argmin())
    assert 2 <= i // 16 < 6 and 2 <= i % 16 < 6


def test_cam_averaged_over_positions_plus_bias_is_the_class_score():
    torch.manual_seed(0)
    model, x = cifar_resnet(n_out=4).eval(), torch.randn(3, 3, 32, 32)
    cam = class_activation_map(model, x, target=torch.tensor([0, 2, 3]))
    assert cam.shape == (3, 8, 8)
    logits = model(x)[torch.arange(3), torch.tensor([0, 2, 3])]
    assert torch.allclose(cam.mean((1, 2)) + model.fc.bias[[0, 2, 3]], logits, atol=1e-5)


def test_cam_restores_training_mode():
    model = cifar_resnet(n_out=2).train()
    class_activation_map(model, torch.randn(2, 3, 32, 32))
    assert model.training


def test_cam_refuses_a_head_that_is_not_pool_then_linear():
    m = _spot_model()
    m[1].insert(2, nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="grad_cam"):
        class_activation_map(m, _image(2, 2))


def test_grad_cam_works_on_a_frozen_model_and_leaves_no_hook():
    m = _spot_model().requires_grad_(False)
    cam = grad_cam(m, _image(2, 2), target=1, layer=m[0])
    assert cam.shape == (1, 16, 16) and cam.max() > 0
    assert len(m[0]._forward_hooks) == 0


def test_grad_cam_matches_cam_for_a_pool_then_linear_model_up_to_scale_and_relu():
    m, x = _spot_model(), _image(5, 6)
    cam, gcam = class_activation_map(m, x, target=1), grad_cam(m, x, target=1)
    assert torch.allclose(gcam, torch.relu(cam) / (16 * 16), atol=1e-6)


def test_resize_cam_scales_a_map_to_the_image_size():
    assert resize_cam(torch.rand(2, 8, 8), (32, 32)).shape == (2, 32, 32)
    assert resize_cam(torch.ones(4, 4), (16, 16)).allclose(torch.ones(16, 16))


def test_show_cam_draws_the_image_and_the_heat_map():
    ax = show_cam(torch.rand(3, 32, 32), torch.rand(8, 8), title="cat")
    assert len(ax.get_images()) == 2 and ax.get_title() == "cat"
    assert ax.get_images()[1].get_extent() == [0, 32, 32, 0]
    plt.close("all")


def _vision_learner(**kwargs):
    from coursekit.loaders import DataLoader, DataLoaders
    from coursekit.vision import vision_learner

    x, y = torch.rand(8, 3, 32, 32), torch.tensor([0, 1] * 4)
    dls = DataLoaders(DataLoader.from_tensors(x, y, bs=4), DataLoader.from_tensors(x, y, bs=4), device="cpu")
    dls.vocab = ["a", "b"]
    return vision_learner(dls, cifar_resnet, **kwargs)


def test_grad_cam_on_a_frozen_vision_learner_model_uses_its_body():
    learn = _vision_learner()
    cam = grad_cam(learn.model, torch.rand(2, 3, 32, 32), target=1)
    assert cam.shape == (2, 8, 8) and len(learn.model[0]._forward_hooks) == 0


def test_cam_on_a_vision_learner_needs_its_simple_head():
    with pytest.raises(ValueError, match="concat_pool=False"):
        class_activation_map(_vision_learner().model, torch.rand(2, 3, 32, 32))
    learn = _vision_learner(concat_pool=False, first_bn=False, lin_ftrs=[], ps=0)
    assert class_activation_map(learn.model, torch.rand(2, 3, 32, 32)).shape == (2, 8, 8)


def _class_conv_model(kernel_size=3):
    """The spot model with lesson 7's head: a class convolution (2 classes), then average pooling and flatten."""
    torch.manual_seed(0)
    body = _spot_model()[0]
    return nn.Sequential(body, nn.Sequential(nn.Conv2d(2, 2, kernel_size, padding=kernel_size // 2),
                                             nn.AdaptiveAvgPool2d(1), nn.Flatten()))


def test_cam_of_a_class_convolution_head_is_its_output_channel_and_averages_to_the_score():
    m, x = _class_conv_model(), torch.rand(3, 1, 16, 16)
    cam = class_activation_map(m, x, target=torch.tensor([0, 1, 1]))
    maps = m[1][0](m[0](x)).detach()
    assert torch.equal(cam, maps[torch.arange(3), torch.tensor([0, 1, 1])])
    assert torch.allclose(cam.mean((1, 2)), m(x).detach()[torch.arange(3), torch.tensor([0, 1, 1])], atol=1e-6)


def test_cam_of_a_one_by_one_class_convolution_equals_the_linear_head_with_the_same_weights():
    conv_model = _class_conv_model(kernel_size=1)
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight.copy_(conv_model[1][0].weight[:, :, 0, 0])
        fc.bias.copy_(conv_model[1][0].bias)
    lin_model = nn.Sequential(conv_model[0], nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc))
    x = _image(3, 4)
    bias = conv_model[1][0].bias[1].item()
    assert torch.allclose(class_activation_map(conv_model, x, 1), class_activation_map(lin_model, x, 1) + bias, atol=1e-6)


def test_cam_refuses_a_class_convolution_followed_by_more_than_pooling():
    m = _class_conv_model()
    m[1].append(nn.ReLU())
    with pytest.raises(ValueError, match="grad_cam"):
        class_activation_map(m, _image(2, 2))


def test_grad_cam_right_before_the_pooling_is_relu_cam_over_the_number_of_positions():
    m, x = _class_conv_model(), _image(4, 9)
    cam = class_activation_map(m, x, target=1)
    assert torch.allclose(grad_cam(m, x, target=1, layer=m[1][0]), torch.relu(cam) / 256, atol=1e-7)


def test_normalize_cam_maps_each_map_to_zero_one():
    cam = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[-2.0, 0.0], [0.0, 2.0]]])
    out = normalize_cam(cam)
    assert torch.allclose(out, torch.tensor([[[0.0, 0.5], [0.25, 1.0]], [[0.0, 0.5], [0.5, 1.0]]]))
    assert torch.allclose(normalize_cam(cam[0]), out[0])
    assert torch.equal(normalize_cam(torch.ones(2, 3)), torch.zeros(2, 3))   # a flat map stays finite


def test_cam_peak_gives_row_and_column():
    cam = torch.zeros(2, 4, 5)
    cam[0, 3, 1] = 1.0
    cam[1, 0, 4] = 2.0
    assert cam_peak(cam).tolist() == [[3, 1], [0, 4]]


def test_pointing_game_counts_a_peak_inside_the_box_only():
    cam = torch.zeros(3, 10, 10)
    cam[:, 4, 6] = 1.0
    boxes = torch.tensor([[4, 6, 1, 1], [0, 0, 4, 6], [2, 5, 3, 2]])   # exactly on it, just outside, around it
    assert pointing_game(cam, boxes).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="top, left, height, width"):
        pointing_game(cam, boxes[:2])
