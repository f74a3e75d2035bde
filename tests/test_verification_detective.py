"""The convention detective on outputs made by the real libraries (never by handconv imitating them).

For each library the detective must name the convention it used and give a
handconv call that, run on the same arrays, reproduces the library's output.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference

import handconv
from handconv.cli import main
from handconv.verification.detective import residual_pattern

RNG = np.random.default_rng(11)
IMAGE = RNG.standard_normal((7, 8))  # odd by even: both SAME splits show
IMAGE3 = RNG.standard_normal((6, 7, 3))
KERNEL5 = RNG.standard_normal((5, 5))  # pad 2: every border mode differs from every other
KERNEL3 = RNG.standard_normal((3, 3))
KERNEL2 = RNG.standard_normal((2, 2))  # even: centring conventions differ


def run_call(candidate, x, k):
    """Evaluate the detective's handconv call on the user's arrays."""
    return eval(candidate.call, {"np": np, "handconv": handconv, "x": x, "k": k})  # noqa: S307


def assert_found(diagnosis, x, k, output, **expected):
    assert diagnosis.found, diagnosis.report()
    best = diagnosis.matches[0]
    for key, value in expected.items():
        assert getattr(best, key) == value, (key, diagnosis.report())
    np.testing.assert_allclose(run_call(best, x, k), output, rtol=1e-5, atol=1e-5 * np.abs(output).max())
    return best


@pytest.mark.parametrize(
    "scipy_mode, canonical",
    [
        ("reflect", "symmetric"),
        ("mirror", "reflect"),
        ("nearest", "edge"),
        ("wrap", "wrap"),
        ("constant", "zeros"),
    ],
)
def test_scipy_ndimage_correlate_every_mode(scipy_mode, canonical):
    ndimage = reference("scipy.ndimage")
    output = ndimage.correlate(IMAGE, KERNEL5, mode=scipy_mode)
    found = handconv.diagnose(IMAGE, KERNEL5, output)
    best = assert_found(found, IMAGE, KERNEL5, output, mode=canonical, flip=False)
    assert handconv.borders.resolve_mode(f"scipy:{scipy_mode}") == canonical
    assert best.strides == (1, 1) and any("scipy.ndimage" in name for name in best.names)


def test_scipy_ndimage_convolve_is_flipped():
    ndimage = reference("scipy.ndimage")
    output = ndimage.convolve(IMAGE, KERNEL3, mode="nearest")
    best = assert_found(handconv.diagnose(IMAGE, KERNEL3, output), IMAGE, KERNEL3, output, flip=True)
    assert best.mode in ("edge", "symmetric")  # with a 3x3 kernel, one pixel of either is the same


def test_scipy_ndimage_even_kernel_centring():
    ndimage = reference("scipy.ndimage")
    output = ndimage.correlate(IMAGE, KERNEL2, mode="constant")
    best = assert_found(handconv.diagnose(IMAGE, KERNEL2, output), IMAGE, KERNEL2, output, mode="zeros")
    assert best.pads == ((1, 0), (1, 0))  # the odd pad before: not TF's SAME
    assert any("SAME_LOWER" in name for name in best.names)


def test_scipy_signal_convolve2d_same():
    signal = reference("scipy.signal")
    for kernel in (KERNEL3, KERNEL2):
        output = signal.convolve2d(IMAGE, kernel, mode="same")
        assert_found(handconv.diagnose(IMAGE, kernel, output), IMAGE, kernel, output, flip=True, mode="zeros")


def test_opencv_filter2d_default_border():
    cv2 = reference("cv2")
    x, k = IMAGE3.astype(np.float32), KERNEL5.astype(np.float32)
    output = cv2.filter2D(x, -1, k)
    found = handconv.diagnose(x, k, output)
    best = assert_found(found, x, k, output, flip=False, mode="reflect")
    assert best.kernel_form.startswith("2-D, per channel")
    assert "float32" in best.precision


def test_torch_symmetric_padding_on_even_input():
    torch = reference("torch")
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    k = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)
    bias = np.array([0.5, -1.25], np.float32)
    output = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(k), torch.from_numpy(bias), stride=2, padding=1
    ).numpy()
    best = assert_found(
        handconv.diagnose(x, k, output),
        x,
        k,
        output,
        strides=(2, 2),
        mode="zeros",
        input_layout="NCHW",
        output_layout="NCHW",
    )
    assert best.kernel_form.startswith("OIHW")
    np.testing.assert_allclose(best.bias, bias, atol=1e-5)
    assert any("PyTorch padding=1" in name for name in best.names)
    assert not any("TF/JAX 'SAME'" in name for name in best.names)  # TF's SAME pads (0, 1) here


@pytest.mark.parametrize(
    "padding_mode, canonical", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]
)
def test_torch_conv2d_padding_modes(padding_mode, canonical):
    torch = reference("torch")
    layer = torch.nn.Conv2d(1, 1, 5, padding=2, padding_mode=padding_mode, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(KERNEL5[None, None]))
        output = layer(torch.from_numpy(IMAGE[None, None])).numpy()[0, 0]
    assert_found(handconv.diagnose(IMAGE, KERNEL5, output), IMAGE, KERNEL5, output, mode=canonical, flip=False)


def test_tf_pad_symmetric_then_valid():
    tf = reference("tensorflow")
    x = IMAGE[None, :, :, None]
    padded = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    output = tf.nn.conv2d(padded, KERNEL5[:, :, None, None], 1, "VALID").numpy()
    assert_found(handconv.diagnose(x, KERNEL5, output), x, KERNEL5, output, mode="symmetric")


def test_tf_same_with_stride_and_dilation():
    tf = reference("tensorflow")
    x = RNG.standard_normal((1, 9, 8, 2)).astype(np.float32)
    k = RNG.standard_normal((3, 3, 2, 2)).astype(np.float32)
    output = tf.nn.conv2d(x, k, 2, "SAME", dilations=2).numpy()
    best = assert_found(
        handconv.diagnose(x, k, output), x, k, output, strides=(2, 2), dilations=(2, 2), kernel_form="HWIO (TF, JAX)"
    )
    assert "padding='SAME'" in best.call
    assert "numpy-ml" in best.describe()  # dilation counted from 0 there


def test_nothing_matches_reports_the_closest_and_the_residual():
    noise = np.random.default_rng(5).standard_normal((7, 8))
    found = handconv.diagnose(IMAGE, KERNEL3, noise)
    assert not found.found and found.closest is not None
    assert "differs everywhere" in found.pattern
    assert "no convention reproduces" in found.report()


def test_wrong_padding_split_is_named():
    """An output whose last row alone disagrees points at the padding split."""
    tf = reference("tensorflow")
    x = RNG.standard_normal((1, 6, 6, 1)).astype(np.float64)
    k = RNG.standard_normal((3, 3, 1, 1))
    output = tf.nn.conv2d(x, k, 2, "SAME").numpy()
    output[0, -1] += 1.0  # e.g. a different bottom pad
    found = handconv.diagnose(x, k, output)
    assert not found.found
    assert "last row" in found.pattern and "padding split" in found.pattern


def test_skimage_sobel_is_a_normalised_true_convolution():
    """skimage divides Sobel by 4 and convolves: no exact match, the closest says both."""
    filters = reference("skimage.filters")
    sobel = np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
    found = handconv.diagnose(IMAGE, sobel, filters.sobel_h(IMAGE))
    assert not found.found
    assert found.closest.flip and found.closest.mode == "symmetric"  # ndimage.convolve, mode='reflect'
    assert "factor 0.25" in found.pattern


def test_residual_patterns():
    ones = np.ones((1, 5, 5, 1))
    column = np.zeros_like(ones)
    column[0, :, 0, 0] = 1
    assert "first column" in residual_pattern(column, ones)
    ring = np.zeros_like(ones)
    ring[0, 0, :, 0] = ring[0, -1, :, 0] = ring[0, :, 0, 0] = 1
    assert "near the border" in residual_pattern(ring, ones)
    output = np.arange(1.0, 26.0).reshape(1, 5, 5, 1)
    assert "factor 2" in residual_pattern(output / 2, output)  # output = 2 * candidate


def test_cli_explain_names_the_libraries(tmp_path, capsys):
    cv2, torch, ndimage = reference("cv2"), reference("torch"), reference("scipy.ndimage")
    x = IMAGE3.astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    np.save(tmp_path / "k.npy", KERNEL3.astype(np.float32))
    np.save(tmp_path / "cv.npy", cv2.filter2D(x, -1, KERNEL3.astype(np.float32)))
    np.save(tmp_path / "nd.npy", ndimage.convolve(x, KERNEL3[:, :, None].astype(np.float32), mode="wrap"))
    nchw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 0))[None])
    weight = torch.from_numpy(np.repeat(KERNEL3[None, None].astype(np.float32), 3, axis=1))
    np.save(tmp_path / "torch.npy", torch.nn.functional.conv2d(nchw, weight, padding="same").numpy()[0])
    expectations = {"cv.npy": "BORDER_REFLECT_101", "nd.npy": "true convolution", "torch.npy": "PyTorch padding=1"}
    for name, phrase in expectations.items():
        code = main(
            [
                "verify",
                "--explain",
                str(tmp_path / name),
                "--input",
                str(tmp_path / "in.npy"),
                "--kernel",
                str(tmp_path / "k.npy"),
            ]
        )
        out = capsys.readouterr().out
        assert code == 0 and phrase in out, out


# ----------------------------------------------------------------- property
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(
    h=st.integers(4, 8),
    w=st.integers(4, 8),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    kind=st.sampled_from(["SAME", "VALID", "P1"]),
    seed=st.integers(0, 999),
)
def test_property_tf_outputs_are_recovered(h, w, k, stride, dilation, kind, seed):
    """Whatever TF computed (stride, dilation, SAME/VALID/explicit), some match's call reproduces it."""
    tf = reference("tensorflow")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, h, w, 2))
    kernel = rng.standard_normal((k, k, 2, 1))
    padding = [[0, 0], [1, 1], [1, 1], [0, 0]] if kind == "P1" else kind
    try:
        output = tf.nn.conv2d(x, kernel, stride, padding, dilations=dilation).numpy()
    except tf.errors.InvalidArgumentError:
        return  # stride > 1 with dilation > 1 is fine in tf.nn.conv2d; this is for filters that do not fit
    if output.size == 0:
        return
    found = handconv.diagnose(x, kernel, output)
    assert found.found, found.report()
    np.testing.assert_allclose(run_call(found.matches[0], x, kernel), output, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "bad",
    [
        "a",
        np.ones((4, 4), complex),
        np.array([[1, 2], [3, 4]], object),
        np.array(["2020-01-01"] * 4, dtype="datetime64[D]").reshape(2, 2),
    ],
)
def test_diagnose_refuses_what_is_not_real_numbers(bad):
    """Issue 12.7: strings raised NumPy's ValueError; complex/object/datetime were accepted."""
    with pytest.raises(handconv.HandconvTypeError, match="expected real numbers"):
        handconv.diagnose(bad, np.ones((1, 1)), np.ones((2, 2)))
    with pytest.raises(handconv.HandconvTypeError):
        handconv.diagnose(np.ones((4, 4)), bad, np.ones((2, 2)))


# ------------------------------------------------------------------ transposed convolutions
from handconv.verification.detective import diagnose_transpose  # noqa: E402

SMALL = RNG.standard_normal((3, 4))
SMALL3 = RNG.standard_normal((3, 3, 2))


def check_transpose(diagnosis, x, k, output):
    assert diagnosis.found, diagnosis.report()
    best = diagnosis.matches[0]
    np.testing.assert_allclose(run_call(best, x, k), output, rtol=1e-5, atol=1e-5)
    return best


@pytest.mark.references
def test_tf_conv2d_transpose_same_is_named_with_its_output_shape():
    tf = reference("tensorflow")
    k = RNG.standard_normal((3, 3, 2, 2))  # (KH, KW, C_out, C_in)
    out = tf.nn.conv2d_transpose(SMALL3[None], k, [1, 6, 6, 2], 2, "SAME").numpy()[0]
    best = check_transpose(diagnose_transpose(SMALL3, k, out), SMALL3, k, out)
    assert best.crops == ((0, 1), (0, 1)) and best.kernel_form.startswith("HWOI") and not best.flip
    assert "output_shape=[1, 6, 6, 2], strides=2, padding='SAME'" in best.names[0]
    assert "no padding/output_padding" in best.names[1]


@pytest.mark.references
def test_torch_conv_transpose2d_padding_and_output_padding():
    torch = reference("torch")
    k = RNG.standard_normal((1, 1, 4, 4))  # PyTorch: (C_in, C_out, KH, KW)
    x = torch.from_numpy(SMALL[None, None])
    out = torch.nn.functional.conv_transpose2d(x, torch.from_numpy(k), stride=2, padding=1, output_padding=1)[0, 0]
    out = out.numpy()
    diagnosis = diagnose_transpose(SMALL, k[0, 0], out)
    best = check_transpose(diagnosis, SMALL, k[0, 0], out)
    assert best.strides == (2, 2)
    assert any("padding=1, output_padding=1" in name for name in best.names), best.describe()


@pytest.mark.references
def test_jax_conv_transpose_default_does_not_rotate_the_kernel():
    jax = reference("jax")
    jax.config.update("jax_enable_x64", True)
    k = RNG.standard_normal((3, 3))
    out = np.asarray(
        jax.lax.conv_transpose(
            SMALL[None, :, :, None], k[:, :, None, None], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )[0, :, :, 0]
    best = check_transpose(diagnose_transpose(SMALL, k, out), SMALL, k, out)
    assert best.flip and "transpose_kernel=False" in best.names[-1]


def test_cli_explain_falls_back_to_transposed_when_the_output_is_larger(tmp_path, capsys):
    k = np.arange(9.0).reshape(3, 3)
    out = handconv.conv2d_transpose(SMALL[None, :, :, None], k[:, :, None, None], (1, 7, 9, 1), 2, "VALID")
    np.save(tmp_path / "x.npy", SMALL)
    np.save(tmp_path / "k.npy", k)
    np.save(tmp_path / "o.npy", out[0, :, :, 0])
    assert (
        main(
            [
                "verify",
                "--explain",
                str(tmp_path / "o.npy"),
                "--input",
                str(tmp_path / "x.npy"),
                "--kernel",
                str(tmp_path / "k.npy"),
            ]
        )
        == 0
    )
    assert "transposed convolution" in capsys.readouterr().out
    assert (
        main(
            [
                "verify",
                "--op",
                "conv2d_transpose",
                "--explain",
                str(tmp_path / "x.npy"),
                "--input",
                str(tmp_path / "x.npy"),
                "--kernel",
                str(tmp_path / "k.npy"),
            ]
        )
        == 1
    )
