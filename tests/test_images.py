import numpy as np
import pytest
import torch
from PIL import Image

from hybridtl.images import Preprocess, as_image_set, load_image_folder

PRE = Preprocess(size=32, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear")
CPU = torch.device("cpu")


def _batches(X, **kw):
    return torch.cat(list(as_image_set(X).batches(PRE, 2, CPU, **kw)))


def test_every_input_form_gives_the_same_tensors(rgb_images, tmp_path):
    reference = _batches(rgb_images)
    assert reference.shape == (5, 3, 32, 32)
    paths = []
    for i, image in enumerate(rgb_images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    forms = {
        "float": rgb_images / 255.0,
        "tensor": torch.from_numpy(rgb_images).permute(0, 3, 1, 2),
        "list of arrays": list(rgb_images),
        "list of tensors": [torch.from_numpy(im).permute(2, 0, 1) for im in rgb_images],
        "PIL": [Image.fromarray(im) for im in rgb_images],
        "paths": paths,
        "str paths": [str(p) for p in paths],
        "series": __import__("pandas").Series([str(p) for p in paths]),
        "rgba": np.concatenate([rgb_images, np.full((5, 40, 48, 1), 7, np.uint8)], axis=3),
    }
    for name, X in forms.items():
        torch.testing.assert_close(_batches(X), reference, atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(_batches(paths, num_workers=2), reference)


def test_gray_becomes_three_equal_channels(rgb_images):
    gray = rgb_images[..., 0]
    out = _batches(gray)
    assert out.shape == (5, 3, 32, 32)
    torch.testing.assert_close(out[:, 0], out[:, 2])
    torch.testing.assert_close(_batches(gray[..., None]), out)


def test_images_of_different_sizes():
    rng = np.random.default_rng(1)
    items = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(10, 20), (64, 33), (32, 32)]]
    assert _batches(items).shape == (3, 3, 32, 32)


def test_normalisation_uses_the_config():
    white = np.full((1, 8, 8, 3), 255, np.uint8)
    torch.testing.assert_close(_batches(white), torch.ones(1, 3, 32, 32))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros(5), ValueError, "shape \\(5,\\)"),
        (np.zeros((5, 64)), ValueError, "reshape them"),
        (np.zeros((2, 3, 8, 8, 3)), ValueError, "shape \\(2, 3, 8, 8, 3\\)"),
        (np.zeros((2, 8, 8, 2)), ValueError, "c in 1, 3, 4"),
        (np.zeros((0, 8, 8)), ValueError, "empty"),
        ([], ValueError, "empty"),
        (np.full((2, 8, 8), np.nan), ValueError, "NaN or infinite"),
        (np.full((2, 8, 8), np.inf), ValueError, "NaN or infinite"),
        (np.full((2, 8, 8), 3.0), ValueError, "floats must lie in \\[0, 1\\]"),
        (np.full((2, 8, 8), 300), ValueError, "integers must lie in \\[0, 255\\]"),
        (np.zeros((2, 8, 8), dtype=bool), TypeError, "dtype bool"),
        (np.array(["a.png", "b.png"]), ValueError, "image 0 \\(a.png\\): file not found"),
        ([np.zeros((8, 8)), "nope.png"], ValueError, "image 1 \\(nope.png\\): file not found"),
        ([np.zeros((8, 8)), np.zeros((8, 8, 5))], ValueError, "image 1 has shape \\(8, 8, 5\\)"),
        ([np.zeros((8, 8)), 3], TypeError, "image 1 has type int"),
        ([np.zeros((8, 8)), np.full((8, 8), np.nan)], ValueError, "image 1 contains NaN"),
        ("folder/", TypeError, "load_image_folder"),
        (42, TypeError, "X has type int"),
        (torch.zeros(2, 2, 8, 8), ValueError, "tensors must be"),
    ],
)
def test_bad_input_is_named(X, error, match):
    with pytest.raises(error, match=match):
        as_image_set(X)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.write_bytes(b"this is text, not an image"), "not an image file"),
        (lambda p: p.write_bytes(_png_bytes()[:60]), "corrupt or truncated"),
        (lambda p: p.write_bytes(_jpeg_bytes()[: len(_jpeg_bytes()) // 2]), "corrupt or truncated"),
    ],
)
def test_unreadable_files_name_the_item(tmp_path, make, match):
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8)).save(good)
    bad = tmp_path / "bad.jpg"
    make(bad)
    with pytest.raises(ValueError, match=f"image 1 \\({bad}\\): {match}"):
        _batches([good, bad])


def _png_bytes():
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes():
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_load_image_folder(tmp_path):
    for cls, n in (("b", 2), ("a", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    paths, labels = load_image_folder(tmp_path)
    assert labels.tolist() == ["a"] * 3 + ["b"] * 2
    assert all(p.endswith(".png") for p in paths)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*holds no images"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")


def test_a_list_may_mix_gray_rgb_and_rgba(rgb_images):
    rgb = rgb_images[0]
    gray = rgb[..., 0]
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    out = _batches([gray, rgb, rgba])
    assert out.shape == (3, 3, 32, 32)
    torch.testing.assert_close(out[2], out[1])
    torch.testing.assert_close(out[0, 0], out[0, 1])
