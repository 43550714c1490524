"""The course's CAM and Grad-CAM against torchcam's (a dev dependency, used here only, never by the course).

Same model, layer, images and classes; both maps normalised to [0, 1] per image (minus the minimum, over the
range) and resized to the image with bilinear interpolation, then compared pixel by pixel.
"""
import pytest
import torch
from torch import nn

from coursekit.cam import class_activation_map, grad_cam, normalize_cam, resize_cam
from coursekit.models import cifar8_resnet, cifar_resnet
from coursekit.vision import create_body

methods = pytest.importorskip("torchcam.methods")

TOL = 1e-5   # on maps in [0, 1]: what float32 rounding leaves (measured: at most 3.3e-6, Grad-CAM of the chapter's model)


def _images(n=6, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _same_size(maps):
    return resize_cam(normalize_cam(maps), (32, 32))


def _lesson_model(kernel_size=3, seed=0):
    """The chapter's form: the course's cat-free body, a class convolution to 2 classes, average pooling, flatten."""
    torch.manual_seed(seed)
    body = create_body(cifar8_resnet, pretrained=True)
    head = nn.Sequential(nn.Conv2d(128, 2, kernel_size, padding=kernel_size // 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(body, head).eval()


def _torchcam(extractor_cls, model, x, targets, **kwargs):
    """Return torchcam's normalised maps for `targets` (one class per image), its hooks removed afterwards."""
    extractor = extractor_cls(model, input_shape=(3, 32, 32), **kwargs)
    try:
        with torch.set_grad_enabled(extractor_cls is not methods.CAM):
            scores = model(x)
        maps = extractor(class_idx=targets.tolist(), scores=scores)[0].detach()
    finally:
        extractor.remove_hooks()
    return maps


def test_cam_of_a_pool_then_linear_resnet_matches_torchcam():
    model, x = cifar_resnet(weights="course").eval(), _images()
    targets = torch.tensor([0, 3, 5, 9, 1, 2])
    ours = class_activation_map(model, x, targets)
    theirs = _torchcam(methods.CAM, model, x, targets, target_layer="layer3", fc_layer="fc")
    assert ours.shape == theirs.shape == (6, 8, 8)
    assert (_same_size(ours) - _same_size(theirs)).abs().max() < TOL


def test_cam_of_a_one_by_one_class_convolution_matches_torchcam():
    model, x = _lesson_model(kernel_size=1), _images(seed=1)
    targets = torch.tensor([0, 1, 1, 0, 1, 0])
    ours = class_activation_map(model, x, targets)
    theirs = _torchcam(methods.CAM, model, x, targets, target_layer="0", fc_layer="1.0")
    assert (_same_size(ours) - _same_size(theirs)).abs().max() < TOL


@pytest.mark.parametrize("layer", ["layer2", "layer3", "layer1"])
def test_grad_cam_of_a_resnet_matches_torchcam_at_any_layer(layer):
    model, x = cifar_resnet(weights="course").eval(), _images(seed=2)
    targets = torch.tensor([2, 2, 7, 0, 4, 8])
    ours = grad_cam(model, x, targets, layer=getattr(model, layer))
    theirs = _torchcam(methods.GradCAM, model, x, targets, target_layer=layer)
    assert ours.shape == theirs.shape
    assert (_same_size(ours) - _same_size(theirs)).abs().max() < TOL


@pytest.mark.parametrize("layer", ["0", "0.layer2"])
def test_grad_cam_of_the_chapters_model_matches_torchcam_before_the_class_convolution(layer):
    model, x = _lesson_model(), _images(seed=3)
    targets = torch.tensor([1, 0, 1, 1, 0, 0])
    ours = grad_cam(model, x, targets, layer=model.get_submodule(layer))
    theirs = _torchcam(methods.GradCAM, model, x, targets, target_layer=layer)
    assert (_same_size(ours) - _same_size(theirs)).abs().max() < TOL


def test_the_reference_check_can_fail_a_map_of_the_wrong_class():
    model, x = cifar_resnet(weights="course").eval(), _images()
    targets = torch.tensor([0, 3, 5, 9, 1, 2])
    theirs = _torchcam(methods.CAM, model, x, targets, target_layer="layer3", fc_layer="fc")
    wrong = class_activation_map(model, x, (targets + 1) % 10)
    assert (_same_size(wrong) - _same_size(theirs)).abs().max() > 0.1
