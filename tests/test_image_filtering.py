"""handconv.image.filter equals the tools people compare against.

SciPy (``ndimage.correlate``) and OpenCV (``filter2D``) are called on the same
float64 pixels with the same weights and their own names for each border mode;
TensorFlow (``depthwise_conv2d`` for ``each``, ``conv2d`` for ``sum``) for zero
padding with strides and dilations. Float64 results agree to ~1e-12 (the sums
differ only in order); uint8 results are identical after the same rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from hypothesis import given, settings
from hypothesis import strategies as st

from handconv import kernels
from handconv.borders import BORDER_MODES
from handconv.errors import HandconvError
from handconv.image import filter as image_filter

MODES = list(BORDER_MODES)
KERNELS = [
    "identity",
    "edge",
    "laplacian4",
    "sobel_x",
    "scharr_y",
    "prewitt_x",
    "gaussian:5:1.2",
    "box:3",
    "sharpen",
    "emboss",
    "unsharp:5:1:1",
    "motion:5:30",
    "roberts_pos_diag",
    "[[1, 2, 0, -1]]",
]
TOLERANCE = dict(rtol=1e-12, atol=1e-12)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _photo(shape=(13, 17, 3), seed=0):
    return _rng(seed).integers(0, 256, size=shape).astype(np.uint8)


def _scipy_origin(size):
    # TensorFlow's SAME puts the odd pixel of padding after, so an even kernel's window starts
    # (size - 1) // 2 before the output pixel; SciPy centres at size // 2 + origin.
    return (size - 1) // 2 - size // 2


def _correlate_each(ndimage, pixels, weights, mode):
    """SciPy's answer, channel by channel, with its name for the mode."""
    scipy_mode = BORDER_MODES[mode].scipy_ndimage
    origin = [_scipy_origin(n) for n in weights.shape]
    channels = pixels[..., None] if pixels.ndim == 2 else pixels
    out = np.stack(
        [
            ndimage.correlate(channels[..., c], weights, mode=scipy_mode, cval=0.0, origin=origin)
            for c in range(channels.shape[-1])
        ],
        axis=-1,
    )
    return out[..., 0] if pixels.ndim == 2 else out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spec", KERNELS)
def test_equals_scipy_correlate_in_float64(spec, mode):
    ndimage = reference("scipy.ndimage")
    pixels = _rng(1).random((11, 14, 3))
    weights = kernels.get(spec).weights
    ours = image_filter(pixels, spec, mode=mode, output="raw")
    np.testing.assert_allclose(ours, _correlate_each(ndimage, pixels, weights, mode), **TOLERANCE)


_OPENCV_BORDERS = {
    "zeros": "BORDER_CONSTANT",
    "reflect": "BORDER_REFLECT_101",
    "symmetric": "BORDER_REFLECT",
    "edge": "BORDER_REPLICATE",
}  # filter2D refuses BORDER_WRAP (opencv/opencv#4599)


def _filter2d(cv2, pixels, weights, mode, ddepth):
    anchor = ((weights.shape[1] - 1) // 2, (weights.shape[0] - 1) // 2)  # TF's SAME centre, (x, y)
    border = getattr(cv2, _OPENCV_BORDERS[mode])
    return cv2.filter2D(pixels, ddepth, weights, anchor=anchor, borderType=border)


@pytest.mark.parametrize("mode", list(_OPENCV_BORDERS))
@pytest.mark.parametrize("spec", KERNELS)
def test_equals_opencv_filter2d_in_float64(spec, mode):
    cv2 = reference("cv2")
    pixels = _rng(2).random((12, 9, 3))
    weights = kernels.get(spec).weights
    expected = _filter2d(cv2, pixels, weights, mode, cv2.CV_64F)
    np.testing.assert_allclose(image_filter(pixels, spec, mode=mode, output="raw"), expected, **TOLERANCE)


@pytest.mark.parametrize("mode", list(_OPENCV_BORDERS))
@pytest.mark.parametrize("spec", ["edge", "laplacian8", "sharpen", "emboss", "sobel_y", "identity", "ridge"])
def test_uint8_equals_opencv_exactly(spec, mode):
    """Integer kernels on uint8: OpenCV saturates to 0..255 exactly as output='clip' does."""
    cv2 = reference("cv2")
    pixels = _photo()
    weights = kernels.get(spec).weights
    expected = _filter2d(cv2, pixels, weights.astype(np.float32), mode, -1)
    ours = image_filter(pixels, spec, mode=mode, output="clip")
    assert ours.dtype == np.uint8
    assert np.array_equal(ours, expected)


@pytest.mark.parametrize("output", ["clip", "abs", "rescale"])
@pytest.mark.parametrize("spec", ["gaussian:7:1.5", "sobel_x", "unsharp:5:1:2"])
def test_uint8_mappings_equal_opencv_float_after_the_same_rounding(spec, output):
    cv2 = reference("cv2")
    pixels = _photo(seed=3)
    response = _filter2d(cv2, pixels.astype(np.float64), kernels.get(spec).weights, "zeros", cv2.CV_64F)
    if output == "abs":
        response = np.abs(response)
    elif output == "rescale":
        response = (response - response.min()) / (response.max() - response.min()) * 255
    expected = np.rint(np.clip(response, 0, 255)).astype(np.uint8)
    assert np.array_equal(image_filter(pixels, spec, output=output), expected)


def test_uint16_keeps_its_range():
    ndimage = reference("scipy.ndimage")
    pixels = _rng(4).integers(0, 65536, size=(10, 12)).astype(np.uint16)
    expected = np.rint(
        np.clip(
            np.abs(_correlate_each(ndimage, pixels.astype(np.float64), kernels.get("edge").weights, "edge")), 0, 65535
        )
    )
    ours = image_filter(pixels, "edge", mode="nearest")
    assert ours.dtype == np.uint16 and np.array_equal(ours, expected.astype(np.uint16))


@pytest.mark.parametrize(
    "stride, dilation, padding",
    [(1, 1, "same"), (2, 1, "same"), (2, 2, "same"), (3, 1, "valid"), (2, 1, 1), (1, 3, 2), (2, 2, "valid")],
)
@pytest.mark.parametrize("spec", ["edge", "sobel_x", "roberts_neg_diag", "gaussian:5:1"])
def test_zero_padding_equals_tensorflow(spec, stride, dilation, padding):
    tf = reference("tensorflow")
    pixels = _rng(5).random((15, 18, 3))
    weights = kernels.get(spec).weights
    tf_padding = padding.upper() if isinstance(padding, str) else [[0, 0], [padding] * 2, [padding] * 2, [0, 0]]
    depthwise = np.repeat(weights[:, :, None, None], 3, axis=2)
    if stride > 1 and dilation > 1:
        # depthwise_conv2d refuses stride and dilation together; dilate the kernel by hand.
        dilated = np.zeros(((weights.shape[0] - 1) * dilation + 1, (weights.shape[1] - 1) * dilation + 1, 3, 1))
        dilated[::dilation, ::dilation] = depthwise
        expected = tf.nn.depthwise_conv2d(pixels[None], dilated, [1, stride, stride, 1], tf_padding).numpy()[0]
    else:
        expected = tf.nn.depthwise_conv2d(
            pixels[None], depthwise, [1, stride, stride, 1], tf_padding, dilations=[dilation, dilation]
        ).numpy()[0]
    ours = image_filter(pixels, spec, stride=stride, dilation=dilation, padding=padding, output="raw")
    np.testing.assert_allclose(ours, expected, **TOLERANCE)


@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "same"), (2, 1), (1, "valid")])
def test_sum_is_the_articles_filter_in_tensorflow(stride, padding):
    from oracles import tf_conv2d

    pixels = _rng(6).random((9, 11, 3))
    volume = np.repeat(kernels.get("edge").weights[:, :, None, None], 3, axis=2)  # 3x3x3, one output
    tf_padding = padding.upper() if isinstance(padding, str) else [[0, 0], [padding] * 2, [padding] * 2, [0, 0]]
    expected = tf_conv2d(pixels[None], volume, stride, tf_padding)[0, ..., 0]
    ours = image_filter(pixels, "edge", channels="sum", stride=stride, padding=padding, output="raw")
    np.testing.assert_allclose(ours, expected, **TOLERANCE)


def test_sum_with_a_3d_kernel_equals_scipy_over_the_volume():
    ndimage = reference("scipy.ndimage")
    pixels = _rng(7).random((8, 10, 3))
    volume = _rng(8).normal(size=(3, 3, 3))
    # SciPy correlates the (H, W, 3) block; the middle channel slice is the one that sees all 3.
    expected = ndimage.correlate(pixels, volume, mode="constant")[..., 1]
    ours = image_filter(pixels, volume, channels="sum", output="raw")
    np.testing.assert_allclose(ours, expected, **TOLERANCE)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["sobel", "scharr", "prewitt", "roberts"])
def test_magnitude_is_the_hypotenuse_of_the_pair(name, mode):
    ndimage = reference("scipy.ndimage")
    pixels = _rng(9).random((10, 13))
    kernel = kernels.get(name)
    gx = _correlate_each(ndimage, pixels, kernel.weights, mode)
    gy = _correlate_each(ndimage, pixels, kernel.pair, mode)
    np.testing.assert_allclose(image_filter(pixels, name, mode=mode, output="raw"), np.sqrt(gx**2 + gy**2), **TOLERANCE)


# skimage's definitions differ from the textbook kernels in two documented ways: it divides
# Sobel by 4, Scharr by 16 and Prewitt by 3, and it convolves (flips the kernel), so its
# axis-0 kernel [[1,2,1],[0,0,0],[-1,-2,-1]] becomes handconv's sobel_y under correlation. Its
# magnitude is sqrt((gx**2 + gy**2) / 2). Its default border is SciPy's 'reflect' = symmetric.
@pytest.mark.parametrize("name, scale", [("sobel", 4), ("scharr", 16), ("prewitt", 3)])
def test_gradients_match_skimage_after_its_normalisation(name, scale):
    filters = reference("skimage.filters")
    pixels = _rng(10).random((12, 15))
    along_rows = getattr(filters, name)(pixels, axis=0)
    along_cols = getattr(filters, name)(pixels, axis=1)
    magnitude = getattr(filters, name)(pixels)
    np.testing.assert_allclose(
        image_filter(pixels, f"{name}_y", mode="scipy:reflect", output="raw") / scale, along_rows, **TOLERANCE
    )
    np.testing.assert_allclose(
        image_filter(pixels, f"{name}_x", mode="scipy:reflect", output="raw") / scale, along_cols, **TOLERANCE
    )
    np.testing.assert_allclose(
        image_filter(pixels, name, mode="scipy:reflect", output="raw") / scale / np.sqrt(2), magnitude, **TOLERANCE
    )


def test_laplacian_matches_skimage_laplace_as_ridge():
    filters = reference("skimage.filters")
    pixels = _rng(11).random((12, 15))
    np.testing.assert_allclose(
        image_filter(pixels, "ridge", mode="scipy:reflect", output="raw"), filters.laplace(pixels), **TOLERANCE
    )
    np.testing.assert_allclose(
        image_filter(pixels, "laplacian4", mode="scipy:reflect", output="raw"), -filters.laplace(pixels), **TOLERANCE
    )


def test_roberts_matches_skimage():
    filters = reference("skimage.filters")
    pixels = _rng(12).random((12, 15))
    # skimage convolves the 2x2 Roberts weights, which flips their signs (squared away) and
    # puts the window at the pixel and the ones below and right: TensorFlow's SAME for an
    # even kernel. Its magnitude is sqrt((pos**2 + neg**2) / 2).
    ours = image_filter(pixels, "roberts", mode="scipy:reflect", output="raw") / np.sqrt(2)
    np.testing.assert_allclose(ours, filters.roberts(pixels), **TOLERANCE)


def test_alpha_is_passed_through_untouched():
    rgba = _photo((9, 10, 4), seed=13)
    out = image_filter(rgba, "edge")
    assert out.shape == (9, 10, 4) and np.array_equal(out[..., 3], rgba[..., 3])
    assert np.array_equal(out[..., :3], image_filter(rgba[..., :3], "edge"))
    # Stride 2, SAME: 9 rows pad (1, 1), so window centres fall on rows 0, 2, ..., 8; 10 columns
    # pad (0, 1), so centres fall on columns 1, 3, ..., 9. Alpha is sampled there.
    strided = image_filter(rgba, "edge", stride=2)
    assert np.array_equal(strided[..., 3], rgba[::2, 1::2, 3])
    gray_alpha = image_filter(rgba, "box:3", channels="sum")
    assert gray_alpha.shape == (9, 10, 2) and np.array_equal(gray_alpha[..., 1], rgba[..., 3])


def test_gray_uses_pillows_luma_weights():
    ndimage = reference("scipy.ndimage")
    rgb = _photo(seed=14)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    expected = _correlate_each(ndimage, luma, kernels.get("sobel_x").weights, "zeros")
    np.testing.assert_allclose(image_filter(rgb, "sobel_x", gray=True, output="raw"), expected, **TOLERANCE)


def test_float_images_are_taken_as_zero_to_one():
    pixels = _rng(15).random((6, 7)).astype(np.float32)
    out = image_filter(pixels, "sharpen")
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(image_filter(pixels, "identity"), pixels)


def test_output_mappings_by_hand():
    pixels = np.zeros((3, 3), np.uint8)
    pixels[1, 1] = 100
    # edge at the centre: 800; at the 8 neighbours: -100.
    raw = image_filter(pixels, "edge", output="raw")
    assert raw.dtype == np.float64 and raw[1, 1] == 800 and raw[0, 0] == -100
    assert image_filter(pixels, "edge", output="clip")[[0, 1], [0, 1]].tolist() == [0, 255]
    assert image_filter(pixels, "edge", output="abs")[[0, 1], [0, 1]].tolist() == [100, 255]
    assert image_filter(pixels, "edge")[[0, 1], [0, 1]].tolist() == [100, 255]  # edge default: abs
    # rescale: -100 -> 0, 800 -> 255.
    assert image_filter(pixels, "edge", output="rescale")[[0, 1], [0, 1]].tolist() == [0, 255]


def test_method_naive_gives_the_same_numbers():
    pixels = _photo((7, 8, 3), seed=16)
    assert np.array_equal(image_filter(pixels, "emboss", method="naive"), image_filter(pixels, "emboss"))


def test_paths_are_read(tmp_path):
    pil = reference("PIL.Image")
    pixels = _photo(seed=17)
    pil.fromarray(pixels).save(tmp_path / "p.png")
    assert np.array_equal(image_filter(tmp_path / "p.png", "edge"), image_filter(pixels, "edge"))
    assert np.array_equal(image_filter(str(tmp_path / "p.png"), "edge"), image_filter(pixels, "edge"))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(channels="all"), "channels"),
        (dict(kernel=np.ones((3, 3, 3))), "channels='sum'"),
        (dict(padding="valid", kernel="box:21"), "does not fit"),
        # 13 rows, 14 taps, stride 4: (13 - 14 + 4) / 4 truncates to 0 rows, as in TensorFlow.
        (dict(padding="valid", kernel=np.ones((14, 1)), stride=4), "empty"),
        (dict(padding="half"), "padding"),
        (dict(padding=-1), "negative"),
        (dict(mode="bogus"), "border mode"),
        (dict(output="gamma"), "output mapping"),
        (dict(stride=0), "stride"),
        (dict(method="fft9"), "method"),
    ],
)
def test_bad_arguments_are_refused(kwargs, words):
    kwargs = {"kernel": "edge", **kwargs}
    kernel = kwargs.pop("kernel")
    with pytest.raises(HandconvError, match=words):
        image_filter(_photo(), kernel, **kwargs)


def test_bad_images_are_refused():
    with pytest.raises(HandconvError, match="dtype"):
        image_filter(np.ones((4, 4), np.int64), "edge")
    with pytest.raises(HandconvError, match="shape"):
        image_filter(np.ones((4, 4, 5), np.uint8), "edge")
    with pytest.raises(HandconvError, match="shape"):
        image_filter(np.ones(4, np.uint8), "edge")


def _by_hand(image, weights, stride, dilation, padding, mode):
    """TF's SAME rule and the window sum written out independently, in float64 loops."""
    (kh, kw), (h, w) = weights.shape, image.shape
    spans = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1)
    pads = []
    for size, span in zip((h, w), spans):
        if padding == "same":
            out = -(-size // stride)
            total = max((out - 1) * stride + span - size, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "valid":
            pads.append((0, 0))
        else:
            pads.append((padding, padding))
    numpy_mode = "constant" if mode == "zeros" else mode
    padded = np.pad(image, pads, mode=numpy_mode)
    out_h = (padded.shape[0] - spans[0]) // stride + 1
    out_w = (padded.shape[1] - spans[1]) // stride + 1
    out = np.zeros((max(out_h, 0), max(out_w, 0)))
    for oy in range(out.shape[0]):
        for ox in range(out.shape[1]):
            for fy in range(kh):
                for fx in range(kw):
                    out[oy, ox] += weights[fy, fx] * padded[oy * stride + fy * dilation, ox * stride + fx * dilation]
    return out


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(2, 9),
    width=st.integers(2, 9),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["same", "valid", 0, 1, 2]),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**16),
)
def test_any_configuration_equals_the_window_sum_by_hand(height, width, kh, kw, stride, dilation, padding, mode, seed):
    rng = _rng(seed)
    image = rng.integers(0, 256, size=(height, width)).astype(np.float64)  # integer values: exact sums
    weights = rng.integers(-3, 4, size=(kh, kw)).astype(np.float64)
    expected = _by_hand(image, weights, stride, dilation, padding, mode)
    if expected.size == 0:
        with pytest.raises(HandconvError):
            image_filter(image / 255, weights, stride=stride, dilation=dilation, padding=padding, mode=mode)
        return
    ours = image_filter(image, weights, stride=stride, dilation=dilation, padding=padding, mode=mode, output="raw")
    assert np.array_equal(ours, expected)


# ------------------------------------------------------------ bounded memory (issue 12.6)
@settings(max_examples=25, deadline=None)
@given(
    mode=st.sampled_from(["zeros", "reflect", "symmetric", "edge", "wrap"]),
    spec=st.sampled_from(["box:3", "sobel", "gaussian:5:1.2", "edge"]),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["same", "valid", 2]),
    channels=st.sampled_from(["each", "sum"]),
    gray=st.booleans(),
    output=st.sampled_from(["clip", "abs", "rescale", "raw"]),
)
def test_bands_of_rows_equal_one_band(mode, spec, stride, dilation, padding, channels, gray, output):
    """filter's bands (here one output row each) give exactly the one-band result.

    By the naive method, whose summation order does not depend on the band's size
    ('auto' may pick another method for a band: equal up to float64 rounding).
    """
    import handconv.image.filtering as filtering

    pixels = np.random.default_rng(7).integers(0, 256, (13, 11, 4), dtype=np.uint8)  # RGBA: alpha too
    options = dict(
        mode=mode,
        stride=stride,
        dilation=dilation,
        padding=padding,
        channels=channels,
        gray=gray,
        output=output,
        method="naive",
    )
    one_band = image_filter(pixels, spec, **options)
    saved = filtering.BAND_BYTES
    filtering.BAND_BYTES = 1
    try:
        banded = image_filter(pixels, spec, **options)
    finally:
        filtering.BAND_BYTES = saved
    np.testing.assert_array_equal(banded, one_band)


def test_huge_reflect_padding_refused_before_allocating():
    """Issue 12.6: padding 1e5 with reflect asked NumPy for 897 GiB."""
    from handconv.errors import HandconvMemoryError

    pixels = np.zeros((1000, 1000, 3), np.uint8)
    with pytest.raises(HandconvMemoryError, match=r"result 200998 x 200998 x 3 x 1 bytes"):
        image_filter(pixels, "box:3", padding=10**5, mode="reflect")
