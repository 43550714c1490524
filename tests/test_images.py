import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.images import load_image, pixel_frame, tensor


def _digit() -> Image.Image:
    return Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4), mode="L")


def test_tensor_from_pil_image_keeps_pixels_and_dtype():
    t = tensor(_digit())
    assert t.dtype == torch.uint8 and t.shape == (4, 4)
    assert t[1, 2].item() == 6


def test_tensor_from_several_numbers_is_a_vector():
    assert torch.equal(tensor(1, 2, 3), torch.tensor([1, 2, 3]))


def test_tensor_from_float_list_is_float32_like_torch():
    assert tensor([1.5, 2.0]).dtype == torch.float32


def test_tensor_from_list_of_arrays_stacks_them():
    assert tensor([np.ones(2), np.zeros(2)]).shape == (2, 2)


def test_load_image_converts_mode(tmp_path):
    p = tmp_path / "d.png"
    _digit().save(p)
    assert load_image(p, "RGB").mode == "RGB"
    assert tensor(load_image(p, "RGB")).shape == (4, 4, 3)


def test_pixel_frame_shows_the_selected_pixels_shaded():
    styler = pixel_frame(_digit(), rows=slice(1, 3), cols=slice(0, 2))
    assert styler.data.values.tolist() == [[4, 5], [8, 9]]
    html = styler.to_html()
    assert "background-color" in html and "T_pixels" in html


def test_pixel_frame_is_deterministic_html():
    assert pixel_frame(_digit()).to_html() == pixel_frame(_digit()).to_html()


def test_pixel_frame_rejects_colour_images_with_advice():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="greyscale"):
        pixel_frame(rgb)
