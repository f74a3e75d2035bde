"""The kernel registry: weights from their definitions, specs parsed safely, clear errors."""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout

import numpy as np
import pytest
from conftest import reference

from handconv import kernels
from handconv.cli import main
from handconv.errors import HandconvError


def test_the_article_edge_kernel_is_the_8_neighbour_outline():
    expected = -np.ones((3, 3))
    expected[1, 1] = 8
    assert np.array_equal(kernels.get("edge").weights, expected)
    assert kernels.get("outline") is kernels.get("edge")
    assert kernels.get("EDGE") is kernels.get(" edge ")


def test_laplacians_match_scipy_laplace_and_ridge_is_their_negative():
    ndimage = reference("scipy.ndimage")
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    # Filtering a unit impulse shows the (flipped, here symmetric) kernel.
    response = ndimage.laplace(delta, mode="constant")[1:4, 1:4]
    assert np.array_equal(kernels.get("laplacian4").weights, response)
    assert np.array_equal(kernels.get("ridge").weights, -response)
    assert np.array_equal(kernels.get("laplacian8").weights, -kernels.get("edge").weights)


@pytest.mark.parametrize("name, ksize", [("sobel", 3), ("scharr", -1)])
def test_sobel_and_scharr_are_opencvs_derivative_kernels(name, ksize):
    cv2 = reference("cv2")
    # cv2.Sobel's d/dx kernel: kx (the derivative) along rows, ky (the smoothing) down columns.
    kx, ky = cv2.getDerivKernels(1, 0, ksize)
    expected_x = np.outer(ky.ravel(), kx.ravel())
    assert np.array_equal(kernels.get(f"{name}_x").weights, expected_x)
    assert np.array_equal(kernels.get(f"{name}_y").weights, expected_x.T)
    pair = kernels.get(name)
    assert pair.family == "magnitude"
    assert np.array_equal(pair.weights, expected_x) and np.array_equal(pair.pair, expected_x.T)


def test_prewitt_and_roberts_match_skimage_weights_under_correlation():
    edges = reference("skimage.filters.edges")
    # skimage convolves (flips) its weights; correlation with the flipped weights is the same filter.
    assert np.array_equal(kernels.get("prewitt_y").weights, edges.HPREWITT_WEIGHTS[::-1, ::-1] * 3)
    assert np.array_equal(kernels.get("prewitt_x").weights, edges.VPREWITT_WEIGHTS[::-1, ::-1] * 3)
    assert np.array_equal(kernels.get("roberts_pos_diag").weights, edges.ROBERTS_PD_WEIGHTS)
    assert np.array_equal(kernels.get("roberts_neg_diag").weights, edges.ROBERTS_ND_WEIGHTS)


@pytest.mark.parametrize("size, sigma", [(3, 0.8), (5, 1.0), (7, 1.5), (9, 3.0)])
def test_gaussian_equals_opencvs_sampled_gaussian(size, sigma):
    cv2 = reference("cv2")
    row = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    np.testing.assert_allclose(kernels.get(f"gaussian:{size}:{sigma}").weights, row @ row.T, rtol=0, atol=1e-15)


def test_gaussian_without_sigma_uses_opencvs_rule():
    cv2 = reference("cv2")
    # sigma from the size; OpenCV uses fixed binomial tables up to size 9, so compare from 11.
    row = cv2.getGaussianKernel(11, -1, cv2.CV_64F)
    np.testing.assert_allclose(kernels.get("gaussian:11").weights, row @ row.T, atol=1e-15)


def test_box_unsharp_and_motion_from_their_definitions():
    assert np.array_equal(kernels.get("box:5").weights, np.full((5, 5), 1 / 25))
    blur = kernels.get("gaussian:5:1").weights
    identity = np.zeros((5, 5))
    identity[2, 2] = 1
    np.testing.assert_allclose(kernels.get("unsharp:5:1:1.5").weights, identity + 1.5 * (identity - blur), atol=1e-15)
    assert np.array_equal(kernels.get("motion:5").weights, np.pad(np.full((1, 5), 0.2), ((2, 2), (0, 0))))
    # A line 5 pixels long rising to the right at 45 degrees reaches +-2/sqrt(2) = +-1.4 along
    # each axis: the three taps of the anti-diagonal nearest the centre.
    diagonal = np.zeros((5, 5))
    diagonal[[1, 2, 3], [3, 2, 1]] = 1 / 3
    assert np.array_equal(kernels.get("motion:5:45").weights, diagonal)
    assert np.array_equal(kernels.get("motion:5:90").weights, kernels.get("motion:5").weights.T)


@pytest.mark.parametrize("kernel", kernels.table(), ids=lambda k: k.name)
def test_every_kernel_is_finite_readonly_and_its_family_fits_its_sum(kernel):
    for weights in kernel.components:
        assert weights.dtype == np.float64 and np.isfinite(weights).all()
        assert not weights.flags.writeable
        total = weights.sum()
        if kernel.family in ("edge", "gradient", "magnitude"):
            assert math.isclose(total, 0, abs_tol=1e-12)
        elif kernel.family in ("blur", "sharpen", "emboss", "identity"):
            assert math.isclose(total, 1, rel_tol=1e-12)
    assert kernel.default_output in ("clip", "abs")
    assert kernel.description


def test_inline_lists_as_json_or_python_literals():
    assert np.array_equal(kernels.get("[[0,-1,0],[-1,4,-1],[0,-1,0]]").weights, kernels.get("ridge").weights)
    assert np.array_equal(kernels.get("((1, 2), (3, 4.5))").weights, [[1, 2], [3, 4.5]])
    custom = kernels.get("[[1, -1]]")
    assert custom.family == "custom" and custom.default_output == "abs"
    assert kernels.get("[[1, 1]]").default_output == "clip"


def test_kernel_files(tmp_path):
    weights = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]])
    np.save(tmp_path / "k.npy", weights)
    (tmp_path / "k.csv").write_text("# my kernel\n1, 2, 3\n4, 5, 6.5\n")
    (tmp_path / "k.txt").write_text("1 2 3\n4 5 6.5\n")
    for name in ("k.npy", "k.csv", "k.txt"):
        assert np.array_equal(kernels.get(str(tmp_path / name)).weights, weights), name


@pytest.mark.parametrize(
    "spec, words",
    [
        ("[[1, 2], [3]]", "ragged"),
        ("[]", "shape"),
        ("[[]]", "empty"),
        ("[1, 2, 3]", "shape"),
        ('[["a", "b"]]', "not numbers"),
        ("[[1, NaN]]", "inf or nan"),
        ("[[1, Infinity]]", "inf or nan"),
        ("[[1, 2], [3, 4]", "not a list"),
        ("[__import__('os').system('echo hacked')]", "not a list"),
        ("gaussian:4:1", "odd"),
        ("gaussian:5:0", "> 0"),
        ("gaussian:5:-1", "> 0"),
        ("gaussian:5:nan", "> 0"),
        ("gaussian:5:abc", "not a number"),
        ("gaussian:5:1:2", "wrong parameters"),
        ("box:0", "odd"),
        ("box:2", "odd"),
        ("box:x", "not an integer"),
        ("box:", "wrong parameters"),
        ("box:100001", "larger"),
        ("motion:5:", "wrong parameters"),
        ("nonsense", "not known"),
        ("sobl", "did you mean 'sobel'"),
        ("missing_file.npy", "does not exist"),
        ("", "empty"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec, words):
    with pytest.raises(HandconvError, match=words):
        kernels.get(spec)


def test_bad_files_are_refused(tmp_path):
    (tmp_path / "ragged.csv").write_text("1, 2, 3\n4, 5\n")
    (tmp_path / "words.txt").write_text("a b\nc d\n")
    (tmp_path / "empty.csv").write_text("")
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name, words in [
        ("ragged.csv", "cannot be read"),
        ("words.txt", "cannot be read"),
        ("empty.csv", "empty"),
        ("pickled.npy", "cannot be read"),
    ]:
        with pytest.raises(HandconvError, match=words):
            kernels.get(str(tmp_path / name))


def test_arrays_are_validated_too():
    assert kernels.get(np.ones((2, 3), np.int64)).weights.dtype == np.float64
    with pytest.raises(HandconvError, match="inf or nan"):
        kernels.get(np.array([[np.inf]]))
    with pytest.raises(HandconvError, match="shape"):
        kernels.get(np.ones((1, 1, 1, 1)))


def test_handconv_kernels_lists_every_kernel_with_its_numbers():
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["kernels"]) == 0
    text = out.getvalue()
    for name in kernels.KERNELS:
        assert f"\n{name}  [" in "\n" + text
    assert "-1 -1 -1\n    -1  8 -1\n    -1 -1 -1" in text
    assert "gaussian:5:1" in text and "aliases: outline = edge" in text


def test_handconv_kernels_shows_one_spec_and_refuses_a_bad_one(capsys):
    assert main(["kernels", "[[0,-1,0],[-1,4,-1],[0,-1,0]]"]) == 0
    assert "custom 3x3 kernel, weights sum to 0" in capsys.readouterr().out
    assert main(["kernels", "gaussian:4"]) == 2
    assert "odd" in capsys.readouterr().err


def test_handconv_kernels_shows_a_3d_kernel_one_channel_at_a_time(capsys, tmp_path):
    # (KH, KW, C) kernels are accepted for --channels sum, so listing one must not crash.
    weights = np.stack([np.full((2, 2), c + 1.0) for c in range(3)], axis=-1)
    np.save(tmp_path / "rgb.npy", weights)
    assert main(["kernels", str(tmp_path / "rgb.npy")]) == 0
    out = capsys.readouterr().out
    for c in range(3):
        assert f"channel {c}:\n      {c + 1} {c + 1}\n      {c + 1} {c + 1}" in out


@pytest.mark.parametrize(
    "spec, message",
    [
        ("gaussian:5:1e-300", "underflows"),  # used to build an all-NaN kernel, exit 0
        ("[" * 60000, "nests lists 60000 deep"),  # used to raise RecursionError
    ],
)
def test_kernels_that_would_be_garbage_are_refused_in_one_line(spec, message):
    with pytest.raises(HandconvError, match=message):
        kernels.get(spec)


def test_huge_sigma_is_the_flat_limit_not_an_overflow():
    """gaussian:1001:1e308 raised OverflowError; (offset / sigma)^2 stays finite: a box."""
    weights = kernels.get("gaussian:11:1e308").weights
    np.testing.assert_allclose(weights, np.full((11, 11), 1 / 121))
    assert np.isfinite(kernels.get("gaussian:1001:1e308").weights).all()


def test_filter_command_refuses_an_underflowing_sigma(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["filter", str(tmp_path / "a.png"), "-k", "gaussian:5:1e-300", "-o", str(tmp_path / "b.png")]) == 2
    assert "underflows" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()
