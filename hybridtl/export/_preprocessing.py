"""The model's preprocessing as an ONNX graph: uint8 pixels (N, H, W, 3) of any size in, the network's input out.

Written by hand with ``onnx.helper`` because no converter makes it: the
preprocessing is torchvision's antialiased resize, for which ``torch.onnx.export``
has no symbolic (``aten::_upsample_bicubic2d_aa``), and ONNX's own
``Resize(antialias=1)`` computes a different filter than torch's (see
:func:`_weights_nodes`). The resize is therefore written as torch computes it:
a matrix of filter weights per axis, built in the graph from the image's size,
applied as a banded ``MatMul`` (:func:`_matmul_nodes`), the width first, then
the height; for 8-bit pixels with torch's integer weights and rounding, pass
by pass. Measured against
torchvision (``tests/test_export.py``), both filters, 16 px to 12-MP photos:
8-bit pixels identical while an image is reduced at most 2x, beyond that a few
in 100,000 one level off (see :func:`_pass_nodes`); float pixels within 0.01 of
a level.

The steps follow :class:`hybridtl.images.Preprocess` one for one:

1. shorter side to ``size / crop_pct`` (torchvision's rule: the longer side
   ``int(side * long / short)``), as 8-bit pixels (``decode="fast"``) or as
   floats in [0, 1] (``"exact"``);
2. centre crop of ``size`` (the offset ``round((h - size) / 2)``, halves to
   even, as Python's ``round`` and ONNX's ``Round`` both do);
3. float in [0, 1], then ``(x - mean) / std``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gray_pixels_graph", "preprocessing_graph"]

OPSET = 18  # the networks, heads and preprocessing share it (ScatterElements' reduction needs 16)
PIXELS = "pixels"
_MODES = {"bicubic": "cubic", "bilinear": "linear"}  # torchvision's interpolation -> the filter


def _const(name, value, dtype=np.int64):
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name))


def _target_size_nodes(side):
    """Nodes computing ``new_h``, ``new_w`` (1-D int64) from ``h``, ``w``: torchvision's rule for ``resize(side)``."""
    from onnx import helper

    return [
        _const("side", [side]),
        helper.make_node("Min", ["h", "w"], ["short"]),
        helper.make_node("Max", ["h", "w"], ["long"]),
        helper.make_node("Mul", ["side", "long"], ["side_long"]),
        helper.make_node("Div", ["side_long", "short"], ["new_long"]),  # int64: floor, as int() of the ratio
        helper.make_node("LessOrEqual", ["w", "h"], ["portrait"]),
        helper.make_node("Where", ["portrait", "new_long", "side"], ["new_h"]),
        helper.make_node("Where", ["portrait", "side", "new_long"], ["new_w"]),
    ]


def _filter_nodes(kernel, x, out, n):
    """Nodes computing the filter ``kernel`` ("linear" or "cubic") at distances ``x`` (float64, >= 0)."""
    from onnx import helper

    if kernel == "linear":  # the triangle
        return [_const(n("one_d"), 1.0, np.float64),
                helper.make_node("Sub", [n("one_d"), x], [n("tent")]),
                helper.make_node("Relu", [n("tent")], [out])]
    a = -0.5  # PIL's cubic, what torch uses when antialiasing (-0.75 without)
    c = {k: _const(n(k), v, np.float64) for k, v in
         {"a2": a + 2, "a3": a + 3, "c1": 1.0, "c2": 2.0, "c4": 4.0, "c5": 5.0, "c8": 8.0, "a": a, "c0": 0.0}.items()}
    return list(c.values()) + [
        # |x| < 1: ((a + 2) x - (a + 3)) x^2 + 1
        helper.make_node("Mul", [n("a2"), x], [n("t1")]), helper.make_node("Sub", [n("t1"), n("a3")], [n("t2")]),
        helper.make_node("Mul", [n("t2"), x], [n("t3")]), helper.make_node("Mul", [n("t3"), x], [n("t4")]),
        helper.make_node("Add", [n("t4"), n("c1")], [n("near")]),
        # 1 <= |x| < 2: (((x - 5) x + 8) x - 4) a
        helper.make_node("Sub", [x, n("c5")], [n("u1")]), helper.make_node("Mul", [n("u1"), x], [n("u2")]),
        helper.make_node("Add", [n("u2"), n("c8")], [n("u3")]), helper.make_node("Mul", [n("u3"), x], [n("u4")]),
        helper.make_node("Sub", [n("u4"), n("c4")], [n("u5")]), helper.make_node("Mul", [n("u5"), n("a")], [n("far")]),
        helper.make_node("Less", [x, n("c1")], [n("is_near")]), helper.make_node("Less", [x, n("c2")], [n("is_in")]),
        helper.make_node("Where", [n("is_in"), n("far"), n("c0")], [n("outer")]),
        helper.make_node("Where", [n("is_near"), n("near"), n("outer")], [out]),
    ]


def _weights_nodes(axis, length, new_length, kernel, eight_bit):
    """Nodes making ``{axis}_weights`` (new_length, length), float32: torch's antialiased filter as a matrix.

    (For 8-bit pixels also ``{axis}_fixed_one_f``: the integer weights' unit, ``2^p``.)

    Written out rather than ONNX's ``Resize(antialias=1)``, which differs from torch: by up to 17 levels
    in linear mode on a 4x reduction, by 1-2 levels of 8-bit pixels in cubic mode (measured), and one
    level is enough to flip a split of a tree head. As ``aten/src/ATen/native/cpu/UpSampleKernel.cpp``
    computes them, in float64: output pixel ``i`` is centred at ``c = scale * (i + 0.5)`` and takes the
    input pixels ``j`` in ``[floor(c - support + 0.5), floor(c + support + 0.5))`` (``support`` the
    kernel's half-width times ``max(scale, 1)``), weighted by the kernel at ``(j + 0.5 - c) / max(scale, 1)``,
    each row normalised to sum 1. For 8-bit pixels torch then rounds the weights to integers at the
    precision they allow (int16): the same is done here, so that 8-bit results agree to the level.
    """
    from onnx import helper

    n = lambda name: f"{axis}_{name}"  # noqa: E731
    nodes = [
        _const(n("unit"), 1.0, np.float64), _const(n("zero"), 0.0, np.float64),
        _const(n("half"), 0.5, np.float64), _const(n("width"), 1.0 if kernel == "linear" else 2.0, np.float64),
        helper.make_node("Cast", [length], [n("in_d")], to=11),
        helper.make_node("Cast", [new_length], [n("out_d")], to=11),
        helper.make_node("Div", [n("in_d"), n("out_d")], [n("scale")]),
        helper.make_node("Max", [n("scale"), n("unit")], [n("stretch")]),
        helper.make_node("Mul", [n("stretch"), n("width")], [n("support")]),
        helper.make_node("Squeeze", [n("out_d")], [n("out_s")]),
        helper.make_node("Range", [n("zero"), n("out_s"), n("unit")], [n("i")]),
        helper.make_node("Add", [n("i"), n("half")], [n("i_mid")]),
        helper.make_node("Mul", [n("i_mid"), n("scale")], [n("centre")]),
        _const(n("col"), [1]), _const(n("row"), [0]),
        helper.make_node("Unsqueeze", [n("centre"), n("col")], [n("centre_col")]),
        # the taps torch takes: j in [max(floor(c - support + 0.5), 0), min(floor(c + support + 0.5), length)),
        # at most 2 ceil(support) + 1 of them: the band (new_length, taps) is computed, then scattered
        helper.make_node("Sub", [n("centre_col"), n("support")], [n("lo0")]),
        helper.make_node("Add", [n("lo0"), n("half")], [n("lo1")]), helper.make_node("Floor", [n("lo1")], [n("lo2")]),
        helper.make_node("Add", [n("centre_col"), n("support")], [n("hi0")]),
        helper.make_node("Add", [n("hi0"), n("half")], [n("hi1")]), helper.make_node("Floor", [n("hi1")], [n("hi2")]),
        helper.make_node("Ceil", [n("support")], [n("reach")]),
        # indices in int64 (OpenVINO computes float64 in float32)
        helper.make_node("Cast", [n("lo2")], [n("lo_i")], to=7),
        helper.make_node("Cast", [n("hi2")], [n("hi_i")], to=7),
        helper.make_node("Cast", [n("reach")], [n("reach_i")], to=7),
        _const(n("zero_i"), [0]), _const(n("one_i"), [1]), _const(n("two_i"), [2]),
        helper.make_node("Max", [n("lo_i"), n("zero_i")], [n("lo")]),
        helper.make_node("Min", [n("hi_i"), length], [n("hi")]),
        helper.make_node("Mul", [n("reach_i"), n("two_i")], [n("reach2")]),
        helper.make_node("Add", [n("reach2"), n("one_i")], [n("taps")]),
        _const(n("zero_s"), 0), _const(n("one_s"), 1),
        helper.make_node("Squeeze", [n("taps")], [n("taps_s")]),
        helper.make_node("Range", [n("zero_s"), n("taps_s"), n("one_s")], [n("k_range")]),
        helper.make_node("Unsqueeze", [n("k_range"), n("row")], [n("k_row")]),
        helper.make_node("Add", [n("lo"), n("k_row")], [n("j_i")]),  # (new_length, taps)
        helper.make_node("Less", [n("j_i"), n("hi")], [n("taken")]),
        helper.make_node("Sub", [length, n("one_i")], [n("last")]),
        helper.make_node("Min", [n("j_i"), n("last")], [n("j_index")]),
        helper.make_node("Cast", [n("j_i")], [n("j")], to=11),
        helper.make_node("Add", [n("j"), n("half")], [n("j_mid")]),
        helper.make_node("Sub", [n("j_mid"), n("centre_col")], [n("offset")]),
        helper.make_node("Abs", [n("offset")], [n("distance")]),
        helper.make_node("Div", [n("distance"), n("stretch")], [n("x")]),
    ]
    nodes += _filter_nodes(kernel, n("x"), n("k"), n)
    nodes += [
        helper.make_node("Where", [n("taken"), n("k"), n("zero")], [n("raw")]),
        helper.make_node("ReduceSum", [n("raw"), n("col")], [n("total")], keepdims=1),
        helper.make_node("Div", [n("raw"), n("total")], [n("normalised")]),
    ]
    band = n("normalised")
    if eight_bit:
        nodes += _int16_nodes(band, n("fixed"), n)
        nodes.append(helper.make_node("Cast", [n("fixed_one")], [n("fixed_one_f")], to=1))
        band = n("fixed")
    return nodes + [
        helper.make_node("Cast", [band], [n("band")], to=1),
        helper.make_node("Concat", [new_length, length], [n("matrix_shape")], axis=0),
        helper.make_node("ConstantOfShape", [n("matrix_shape")], [n("empty")],
                         value=helper.make_tensor(n("nought"), 1, [1], [0.0])),
        # clamped taps carry weight 0 and land on a real tap: "add" keeps the real one's weight
        helper.make_node("ScatterElements", [n("empty"), n("j_index"), n("band")], [n("weights")], axis=1,
                         reduction="add"),
    ]


def _int16_nodes(weights, out, n):
    """torch's integer weights for 8-bit pixels: ``w * 2^p`` rounded half away from zero, ``p`` as torch's
    loop finds it (the first precision at which the largest weight would reach 2^15 at ``p + 1``, at most
    22); also ``{axis}_fixed_one`` = ``2^p``."""
    from onnx import helper

    powers = np.float64(2.0) ** np.arange(1, 23)
    return [
        helper.make_node("ReduceMax", [weights], [n("w_max")], keepdims=0),
        _const(n("powers"), powers, np.float64),
        helper.make_node("Mul", [n("w_max"), n("powers")], [n("tries0")]),
        helper.make_node("Add", [n("tries0"), n("half")], [n("tries1")]),
        helper.make_node("Floor", [n("tries1")], [n("tries")]),
        _const(n("limit"), 32768.0, np.float64),
        helper.make_node("Less", [n("tries"), n("limit")], [n("fits")]),
        helper.make_node("Cast", [n("fits")], [n("fits_d")], to=11),
        _const(n("all_axes"), [0]),
        helper.make_node("ReduceSum", [n("fits_d"), n("all_axes")], [n("precision")], keepdims=0),
        _const(n("two"), 2.0, np.float64),
        helper.make_node("Pow", [n("two"), n("precision")], [n("fixed_one")]),
        helper.make_node("Mul", [weights, n("fixed_one")], [n("scaled")]),
        helper.make_node("Abs", [n("scaled")], [n("scaled_abs")]),
        helper.make_node("Add", [n("scaled_abs"), n("half")], [n("rounded0")]),
        helper.make_node("Floor", [n("rounded0")], [n("rounded_abs")]),
        helper.make_node("Sign", [n("scaled")], [n("sign")]),
        helper.make_node("Mul", [n("sign"), n("rounded_abs")], [out]),
    ]


TILE = 32  # output pixels per tile of the banded product


def _tile_nodes(weights, n):
    """Nodes splitting the band matrix ``weights`` (new, length) into tiles of :data:`TILE` outputs:
    ``{axis}_rows`` (tiles, R), the input rows each tile reads (clamped into the image), and
    ``{axis}_blocks`` (tiles, TILE, R), their weights, 0 outside the tile's band."""
    from onnx import helper

    m = lambda name: n(f"band_{name}")  # noqa: E731
    return [
        _const(m("tile"), [TILE]), _const(m("i0"), [0]), _const(m("i1"), [1]), _const(m("flat"), [-1]),
        _const(m("s0"), 0), _const(m("s1"), 1), _const(m("zero_f"), 0.0, np.float32),
        helper.make_node("Shape", [weights], [m("w_shape")]),
        helper.make_node("Gather", [m("w_shape"), m("i0")], [m("new_n")]),
        helper.make_node("Gather", [m("w_shape"), m("i1")], [m("len_n")]),
        helper.make_node("Add", [m("new_n"), m("tile")], [m("up0")]),
        helper.make_node("Sub", [m("up0"), m("i1")], [m("up1")]),
        helper.make_node("Div", [m("up1"), m("tile")], [m("tiles")]),  # ceil(new / TILE)
        helper.make_node("Mul", [m("tiles"), m("tile")], [m("padded")]),
        helper.make_node("Squeeze", [m("tiles")], [m("tiles_s")]),
        helper.make_node("Range", [m("s0"), m("tiles_s"), m("s1")], [m("t")]),
        helper.make_node("Mul", [m("t"), m("tile")], [m("first")]),
        helper.make_node("Add", [m("first"), m("tile")], [m("after0")]),
        helper.make_node("Sub", [m("after0"), m("i1")], [m("last0")]),
        helper.make_node("Sub", [m("new_n"), m("i1")], [m("new_last")]),
        helper.make_node("Min", [m("last0"), m("new_last")], [m("last")]),
        helper.make_node("Reshape", [n("lo"), m("flat")], [m("lo_flat")]),
        helper.make_node("Reshape", [n("hi"), m("flat")], [m("hi_flat")]),
        helper.make_node("Gather", [m("lo_flat"), m("first")], [m("r0")]),  # the band only widens: lo, hi rise
        helper.make_node("Gather", [m("hi_flat"), m("last")], [m("r1")]),
        helper.make_node("Sub", [m("r1"), m("r0")], [m("span")]),
        helper.make_node("ReduceMax", [m("span")], [m("widest")], keepdims=0),
        helper.make_node("Range", [m("s0"), m("widest"), m("s1")], [m("r")]),
        helper.make_node("Unsqueeze", [m("r0"), m("i1")], [m("r0_col")]),
        helper.make_node("Unsqueeze", [m("r1"), m("i1")], [m("r1_col")]),
        helper.make_node("Unsqueeze", [m("r"), m("i0")], [m("r_row")]),
        helper.make_node("Add", [m("r0_col"), m("r_row")], [m("rows0")]),  # (tiles, R)
        helper.make_node("Less", [m("rows0"), m("r1_col")], [m("inside")]),
        helper.make_node("Sub", [m("len_n"), m("i1")], [m("len_last")]),
        helper.make_node("Min", [m("rows0"), m("len_last")], [m("rows")]),
        # the weights, padded to whole tiles, as (tiles, TILE, length); each tile's R columns gathered
        helper.make_node("Sub", [m("padded"), m("new_n")], [m("pad_rows")]),
        _const(m("pad_head"), [0, 0]),
        helper.make_node("Concat", [m("pad_head"), m("pad_rows"), m("i0")], [m("pads")], axis=0),
        helper.make_node("Pad", [weights, m("pads")], [m("w_padded")]),
        helper.make_node("Unsqueeze", [m("widest"), m("i0")], [m("widest_1")]),
        helper.make_node("Concat", [m("tiles"), m("tile"), m("len_n")], [m("w3_shape")], axis=0),
        helper.make_node("Reshape", [m("w_padded"), m("w3_shape")], [m("w3")]),
        helper.make_node("Unsqueeze", [m("rows"), m("i1")], [m("rows_3")]),
        helper.make_node("Concat", [m("tiles"), m("tile"), m("widest_1")], [m("blocks_shape")], axis=0),
        helper.make_node("Expand", [m("rows_3"), m("blocks_shape")], [m("rows_blocks")]),
        helper.make_node("GatherElements", [m("w3"), m("rows_blocks")], [m("blocks0")], axis=2),
        helper.make_node("Unsqueeze", [m("inside"), m("i1")], [m("inside_3")]),
        helper.make_node("Where", [m("inside_3"), m("blocks0"), m("zero_f")], [m("blocks")]),
    ]


def _matmul_nodes(source, weights, out, n):
    """``weights`` (new, length) times ``source`` (N, 3, length, X) along axis 2, as a banded product.

    Output pixel ``i`` reads only its band ``[lo_i, hi_i)`` of the input. A dense product reads every
    input pixel for every output pixel (5.6 GFLOP for 32 photos of 480x360 to 341 wide); here the outputs
    go in tiles of :data:`TILE`, each reading only the rows its band spans: the input gathered as
    (tiles, R) slabs of whole rows, one batched ``MatMul`` with the (tiles, TILE, R) weight blocks. Slab
    rows outside a tile's band (and padding past the last output) weigh 0: the sums hold the dense
    product's terms.
    """
    from onnx import helper

    m = lambda name: n(f"band_{name}")  # noqa: E731
    return _tile_nodes(weights, n) + [  # (N, 3, length, X) -> (N, 3, tiles, R, X); (tiles, TILE, R) @ that
        helper.make_node("Shape", [source], [m("src_shape")]),
        helper.make_node("Gather", [source, m("rows")], [m("slabs")], axis=2),
        helper.make_node("MatMul", [m("blocks"), m("slabs")], [m("tiled")]),  # (N, 3, tiles, TILE, X)
        _const(m("lead_end"), [2]), _const(m("x_at"), [3]), _const(m("x_end"), [4]),
        helper.make_node("Slice", [m("src_shape"), m("i0"), m("lead_end")], [m("lead")]),
        helper.make_node("Slice", [m("src_shape"), m("x_at"), m("x_end")], [m("across")]),
        helper.make_node("Concat", [m("lead"), m("padded"), m("across")], [m("joined_shape")], axis=0),
        helper.make_node("Reshape", [m("tiled"), m("joined_shape")], [m("joined")]),
        _const(m("axis_2"), [2]),
        helper.make_node("Slice", [m("joined"), m("i0"), m("new_n"), m("axis_2")], [out]),
    ]


def _pass_nodes(source, weights, out, eight_bit, n):
    """One separable pass of the resize, along axis 2 of ``source``; for 8-bit pixels as torch computes
    it: integer weights, ``+ 2^(p - 1)``, shifted right by ``p``, clamped to 0-255.

    The sums are float32: exact while they stay below 2^24, which holds up to ``p = 15`` (reductions to
    about half and all enlargements); beyond, a sum near a rounding boundary can land one level off
    (measured: none while the reduction is at most 2x; at 7-16x, as from a 12-MP photo to 224 px, 1 to 3
    in 100,000 pixels, ``tests/test_export.py``).
    A float64 product, exact throughout, measured 2x slower on 480x360 photos.
    """
    from onnx import helper

    nodes = _matmul_nodes(source, weights, n("sum") if eight_bit else out, n)
    if not eight_bit:
        return nodes
    return nodes + [
        _const(n("lo_px"), 0.0, np.float32), _const(n("hi_px"), 255.0, np.float32),
        _const(n("half_f"), 0.5, np.float32),
        helper.make_node("Div", [n("sum"), n("fixed_one_f")], [n("shifted0")]),
        helper.make_node("Add", [n("shifted0"), n("half_f")], [n("shifted1")]),
        helper.make_node("Floor", [n("shifted1")], [n("shifted")]),
        helper.make_node("Clip", [n("shifted"), n("lo_px"), n("hi_px")], [out]),
    ]


def _resize_nodes(preprocess, source, out, eight_bit):
    """Nodes resizing NCHW ``source`` so that its shorter side is ``preprocess.resize_side``: the width
    first, then the height, each pass kept to 8 bits when torch resizes uint8 (it does the same; ``out`` then
    holds whole levels 0-255 as float32)."""
    from onnx import helper

    kernel = _MODES.get(preprocess.interpolation)
    if kernel is None:
        raise ValueError(f"interpolation {preprocess.interpolation!r} has no ONNX equivalent here; "
                         f"exportable: {', '.join(_MODES)}")
    nodes = [
        helper.make_node("Shape", [source], ["shape"]),
        _const("h_at", [2]), _const("w_at", [3]),
        helper.make_node("Gather", ["shape", "h_at"], ["h"]),
        helper.make_node("Gather", ["shape", "w_at"], ["w"]),
    ] + _target_size_nodes(preprocess.resize_side)
    nodes += _weights_nodes("x", "w", "new_w", kernel, eight_bit) + _weights_nodes("y", "h", "new_h", kernel, eight_bit)
    # the width first, as torch: on (N, 3, W, H), whole rows of which ONNX Runtime gathers 10x faster
    # than single values along the last axis
    if eight_bit:  # as float32 values (ONNX Runtime transposes uint8 7x slower than float32)
        nodes.append(helper.make_node("Cast", [source], ["pixel_values"], to=1))
        source = "pixel_values"
    # A reshape to its own shape keeps ONNX Runtime from merging this transpose with the NHWC -> NCHW one
    # before it: the merged [0, 3, 2, 1] measured 45 ms for 32 photos of 480x360, the two apart 7 ms.
    nodes += [helper.make_node("Shape", [source], ["own_shape"]),
              helper.make_node("Reshape", [source, "own_shape"], ["kept_nchw"]),
              helper.make_node("Transpose", ["kept_nchw"], ["sideways"], perm=[0, 1, 3, 2])]
    nodes += _pass_nodes("sideways", "x_weights", "across_sideways", eight_bit, lambda name: f"x_{name}")
    nodes.append(helper.make_node("Transpose", ["across_sideways"], ["across"], perm=[0, 1, 3, 2]))
    if not eight_bit:
        return nodes + _pass_nodes("across", "y_weights", out, False, lambda name: f"y_{name}")
    # 8-bit results, kept as whole float32 levels 0-255: a cast to uint8 and back around the crop gave the same
    # values, two nodes more (OpenVINO's profile: 3 ms of 37 for 32 photos; whole graphs, within the noise)
    return nodes + _pass_nodes("across", "y_weights", out, True, lambda name: f"y_{name}")


def _crop_nodes(size, source, out):
    """Nodes taking the centre ``size`` x ``size`` of NCHW ``source``, offsets as torchvision rounds them."""
    from onnx import helper

    return [
        helper.make_node("Shape", [source], ["hw"], start=2, end=4),
        _const("crop", [size, size]),
        helper.make_node("Sub", ["hw", "crop"], ["spare"]),
        helper.make_node("Cast", ["spare"], ["spare_f"], to=1),
        _const("two", [2.0], np.float32),
        helper.make_node("Div", ["spare_f", "two"], ["half_spare"]),
        helper.make_node("Round", ["half_spare"], ["top_left_f"]),  # half to even, as Python's round
        helper.make_node("Cast", ["top_left_f"], ["top_left"], to=7),
        helper.make_node("Add", ["top_left", "crop"], ["bottom_right"]),
        _const("hw_axes", [2, 3]),
        helper.make_node("Slice", [source, "top_left", "bottom_right", "hw_axes"], [out]),
    ]


def _to_float_nodes(source, out):
    """uint8 0-255 -> float32 0-1 by division, as :func:`hybridtl.images.as_float` does (bit for bit)."""
    from onnx import helper

    return [helper.make_node("Cast", [source], [out + "_255"], to=1),
            _const(out + "_scale", 255.0, np.float32),
            helper.make_node("Div", [out + "_255", out + "_scale"], [out])]


def _geometry_nodes(preprocess):
    """NHWC uint8 ``pixels`` -> ``cropped`` (NCHW, float32 in [0, 1]) as ``preprocess`` resizes and crops."""
    from onnx import helper

    nodes = [helper.make_node("Transpose", [PIXELS], ["nchw"], perm=[0, 3, 1, 2])]
    if preprocess.decode == "fast":  # 8-bit until the network, as Preprocess.working keeps it
        nodes += _resize_nodes(preprocess, "nchw", "resized", eight_bit=True)  # whole levels, as float32
        nodes += _crop_nodes(preprocess.size, "resized", "cropped_levels")
        return nodes + [_const("levels", 255.0, np.float32),
                        helper.make_node("Div", ["cropped_levels", "levels"], ["cropped"])]  # as as_float
    nodes += _to_float_nodes("nchw", "nchw_f")
    nodes += _resize_nodes(preprocess, "nchw_f", "resized", eight_bit=False)
    return nodes + _crop_nodes(preprocess.size, "resized", "cropped")


def _model(nodes, output, shape):
    from onnx import TensorProto, helper

    pixels = helper.make_tensor_value_info(PIXELS, TensorProto.UINT8, ["n", "height", "width", 3])
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)
    graph = helper.make_graph(nodes, "preprocessing", [pixels], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _check_geometry(preprocess):
    if preprocess.resize_side < preprocess.size:
        raise ValueError(f"crop_pct={preprocess.crop_pct} resizes to {preprocess.resize_side} px, less than the "
                         f"{preprocess.size} px crop (torchvision pads it); only crop_pct <= 1 exports")


def preprocessing_graph(preprocess, output="images"):
    """The ONNX model: ``pixels`` uint8 (N, H, W, 3) -> ``output`` float32 (N, 3, size, size), normalised.

    Parameters
    ----------
    preprocess : hybridtl.images.Preprocess
    output : str, default="images"

    Returns
    -------
    onnx.ModelProto

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort
    >>> from hybridtl.images import Preprocess
    >>> p = Preprocess(size=4, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3, decode="fast")
    >>> session = ort.InferenceSession(preprocessing_graph(p).SerializeToString())
    >>> session.run(None, {"pixels": np.full((2, 4, 6, 3), 255, np.uint8)})[0].shape
    (2, 3, 4, 4)
    """
    from onnx import helper

    _check_geometry(preprocess)
    mean = np.asarray(preprocess.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(preprocess.std, np.float32).reshape(1, 3, 1, 1)
    nodes = _geometry_nodes(preprocess) + [
        _const("mean", mean, np.float32), _const("std", std, np.float32),
        helper.make_node("Sub", ["cropped", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], [output]),  # F.normalize: sub_(mean).div_(std)
    ]
    return _model(nodes, output, ["n", 3, preprocess.size, preprocess.size])


def gray_pixels_graph(preprocess, output="features"):
    """The ONNX model of :class:`hybridtl.features.PixelFeatures`: resized, cropped, the channels' mean, flattened.

    Parameters
    ----------
    preprocess : hybridtl.images.Preprocess
    output : str, default="features"

    Returns
    -------
    onnx.ModelProto
        ``pixels`` uint8 (N, H, W, 3) -> ``output`` float32 (N, size * size).

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort
    >>> from hybridtl.images import Preprocess
    >>> p = Preprocess(size=16, crop_pct=1.0, mean=(0.0,) * 3, std=(1.0,) * 3, interpolation="bilinear")
    >>> session = ort.InferenceSession(gray_pixels_graph(p).SerializeToString())
    >>> session.run(None, {"pixels": np.full((1, 40, 30, 3), 255, np.uint8)})[0].shape
    (1, 256)
    """
    from onnx import helper

    _check_geometry(preprocess)
    nodes = _geometry_nodes(preprocess) + [
        _const("channel_axis", [1]),
        helper.make_node("ReduceMean", ["cropped", "channel_axis"], ["gray"], keepdims=0),
        helper.make_node("Flatten", ["gray"], [output], axis=1),
    ]
    return _model(nodes, output, ["n", preprocess.size ** 2])
