"""Real files of every kind a user has, made here from scikit-image's bundled photo, read pixel for pixel."""

import struct
import time
import zlib

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from hybridtl.images import ImageReadError, read_image


@pytest.fixture(scope="module")
def cat():
    """The real photo 'chelsea' (300 x 451 RGB uint8), cropped to 120 x 160 for speed."""
    return skimage.data.chelsea()[60:180, 100:260]


def _as_float(rgb_uint8):
    return torch.from_numpy(rgb_uint8.astype(np.float32) / 255.0).permute(2, 0, 1)


def test_eight_bit_rgb_png_is_exact(cat, tmp_path):
    Image.fromarray(cat).save(tmp_path / "a.png")
    torch.testing.assert_close(read_image(tmp_path / "a.png"), _as_float(cat), rtol=0, atol=0)


@pytest.mark.parametrize("suffix", ["png", "tiff"])
def test_sixteen_bit_gray_is_scaled_by_its_range(cat, tmp_path, suffix):
    gray8 = cat[..., 1]
    deep = gray8.astype(np.uint16) * 257  # 0..65535, the same picture in 16 bits
    path = tmp_path / f"deep.{suffix}"
    Image.fromarray(deep).save(path)
    got = read_image(path)
    assert 0.0 < got.min() < got.max() <= 1.0  # neither blanked to 1.0 nor clipped
    expected = torch.from_numpy(deep.astype(np.float32) / 65535).expand(3, *deep.shape)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_sixteen_bit_values_not_a_multiple_of_257(tmp_path):
    deep = np.linspace(18247, 51657, 64 * 64).reshape(64, 64).astype(np.uint16)  # the range
    Image.fromarray(deep).save(tmp_path / "d.png")
    got = read_image(tmp_path / "d.png")[0]
    np.testing.assert_allclose(got.numpy(), deep / 65535, atol=1e-6)


def test_float_tiff_in_unit_range(cat, tmp_path):
    values = cat[..., 0].astype(np.float32) / 255.0
    Image.fromarray(values, mode="F").save(tmp_path / "f.tiff")
    got = read_image(tmp_path / "f.tiff")
    np.testing.assert_allclose(got[2].numpy(), values, atol=1e-7)
    assert got.mean() > 0.1  # not truncated to zeros


def test_float_tiff_out_of_range_is_a_clear_error(tmp_path):
    Image.fromarray(np.full((8, 8), 3.5, np.float32), mode="F").save(tmp_path / "hdr.tiff")
    with pytest.raises(ImageReadError, match=r"hdr.tiff.*float pixels must be finite and lie in \[0, 1\]"):
        read_image(tmp_path / "hdr.tiff")


@pytest.mark.parametrize("orientation, undo", [(3, 2), (6, 1), (8, 3)])
def test_exif_orientation_is_applied(cat, tmp_path, orientation, undo):
    """A phone stores pixels as the sensor saw them and says how to turn them; the reader turns them."""
    stored = np.ascontiguousarray(np.rot90(cat, k=undo))  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    got = read_image(tmp_path / "phone.jpg")
    assert got.shape == (3, *cat.shape[:2])
    assert (got - _as_float(cat)).abs().mean() < 0.02  # JPEG noise only


def test_palette_gray_alpha_cmyk_rgba_and_bilevel(cat, tmp_path):
    rgb = Image.fromarray(cat)
    cases = {
        "p.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256),
        "l.png": rgb.convert("L"),
        "la.png": rgb.convert("LA"),
        "rgba.png": rgb.convert("RGBA"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "cmyk.tiff": rgb.convert("CMYK"),
        "one.png": rgb.convert("1"),
    }
    for name, image in cases.items():
        image.save(tmp_path / name, **({"quality": 98} if name.endswith("jpg") else {}))
        got = read_image(tmp_path / name)
        assert got.shape == (3, 120, 160) and got.dtype == torch.float32, name
        expected = torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 255).permute(2, 0, 1)
        tolerance = 0.03 if name.endswith("jpg") else 0
        assert (got - expected).abs().mean() <= tolerance, name
    torch.testing.assert_close(read_image(tmp_path / "rgba.png"), _as_float(cat), rtol=0, atol=0)  # alpha dropped
    assert (read_image(tmp_path / "cmyk.tiff") - _as_float(cat)).abs().max() < 0.01


def test_palette_with_transparency_goes_through_rgba(tmp_path):
    image = Image.new("P", (8, 8))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.info["transparency"] = 1
    image.save(tmp_path / "t.png")
    assert read_image(tmp_path / "t.png")[:, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_animated_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    got = read_image(tmp_path / "anim.gif")
    assert got[0].mean() > 0.9 and got[2].mean() < 0.1


def _png_header_only(width, height):
    """A PNG that declares ``width`` x ``height`` pixels and holds almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [100_000, 10_000])  # PIL's own refusal, and the limit between 1x and 2x PIL's
def test_a_decompression_bomb_is_refused_quickly(tmp_path, side):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(side, side))
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"bomb\.png: .*decompression bomb"):
        read_image(tmp_path / "bomb.png")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not an image file"),
        (b"hello, not a picture", "not an image file"),
        ("truncated", "corrupt or truncated"),
    ],
)
def test_bad_files_name_themselves(cat, tmp_path, content, match):
    path = tmp_path / "bad.jpg"
    if content == "truncated":
        Image.fromarray(cat).save(path, quality=90)
        content = path.read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=match) as info:
        read_image(path)
    assert "bad.jpg" in str(info.value) and isinstance(info.value, ValueError)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a folder"):
        read_image(tmp_path)
