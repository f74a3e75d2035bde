"""``handconv.verify`` and ``handconv verify``: the agreement table and its tolerance policy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import reference

import handconv
from handconv.cli import main
from handconv.verification import (
    CANNOT,
    FAIL,
    MISSING,
    PASS,
    compare,
    gamma,
    kernel_to_filters,
    named_kernel,
    references,
    tolerance,
    ulp_distance,
    unit_roundoff,
)

#: Every backend except the oneDNN subprocess row (tested once, below).
IN_PROCESS = ["handconv", "oneDNN off", "torch", "jax", "scipy", "cv2"]
STRING_TORCH = "torch F.conv2d (padding string/int)"


def _libraries():
    for module in ("tensorflow", "torch", "jax", "scipy", "cv2"):
        reference(module)


def _edge_input(shape=(1, 6, 6, 3), seed=0, dtype=np.float32):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return x, kernel_to_filters(named_kernel("edge"), shape[-1]).astype(dtype)


def test_done_when_table():
    """6x6x3, edge kernel, stride 2, SAME: everyone who can express it PASSes; torch's 'same' says why not."""
    _libraries()
    x, w = _edge_input()
    report = handconv.verify(x, w, 2, "SAME", backends=IN_PROCESS)
    statuses = report.statuses()
    assert report.ok
    assert statuses[STRING_TORCH] == CANNOT
    assert "not supported for strided convolutions" in report.row(STRING_TORCH).translation
    for name in (
        "handconv:naive",
        "handconv:im2col",
        "tf.nn.conv2d (oneDNN off)",
        "torch F.pad + F.conv2d",
        "jax.lax.conv_general_dilated",
    ):
        assert statuses[name] == PASS, report.table()
    for name in ("scipy.signal.correlate", "scipy.ndimage.correlate", "cv2.filter2D"):
        assert statuses[name] == CANNOT and "no stride" in report.row(name).translation
    text = report.table()
    assert "padding SAME: top 0, bottom 1, left 0, right 1" in text and "all agree" in text


GRID = [
    # input, filters, strides, padding, data_format, dilations, dtype
    ((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]], "NHWC", 1, np.float32),  # the article
    ((2, 7, 6, 2), (2, 3, 2, 3), 1, "SAME", "NHWC", 1, np.float64),
    ((1, 3, 7, 7), (3, 3, 3, 2), [2, 1], "SAME", "NCHW", [1, 2], np.float32),
    ((1, 6, 6, 4), (3, 3, 2, 2), 1, [[0, 0], [0, 2], [1, 0], [0, 0]], "NHWC", 1, np.float32),  # groups, asym
    ((1, 6, 6, 2), (3, 3, 2, 2), 1, "VALID", "NHWC", 1, np.int32),
    ((1, 6, 6, 2), (3, 3, 2, 2), 1, "SAME", "NHWC", 1, np.float16),
]


@pytest.mark.parametrize("case", GRID, ids=[f"case{i}" for i in range(len(GRID))])
def test_grid_every_installed_backend_agrees(case):
    _libraries()
    shape, fshape, strides, padding, data_format, dilations, dtype = case
    rng = np.random.default_rng(len(str(case)))
    if dtype == np.int32:
        x, w = rng.integers(-5, 6, shape).astype(dtype), rng.integers(-3, 4, fshape).astype(dtype)
    else:
        x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(fshape).astype(dtype)
    report = handconv.verify(x, w, strides, padding, data_format, dilations, backends=IN_PROCESS)
    assert report.ok, report.table()
    assert MISSING not in report.statuses().values()
    statuses = report.statuses()
    for name in (
        "handconv:naive",
        "tf.nn.conv2d (oneDNN off)",
        "torch F.pad + F.conv2d",
        "jax.lax.conv_general_dilated",
    ):
        assert statuses[name] == PASS, report.table()
    for row in report.rows:
        assert row.status in (PASS, CANNOT), row
        assert row.translation  # how it was called, or why not
        if row.status == PASS and np.dtype(dtype).kind == "i":
            assert row.max_abs_error == 0


def test_onednn_row_runs_in_a_subprocess_once():
    _libraries()
    x, w = _edge_input(seed=1)
    report = handconv.verify(x, w, 2, "SAME", backends=["oneDNN on"])
    (row,) = report.rows
    assert row.status == PASS and "in a subprocess" in row.translation


# ----------------------------------------------------------------- tolerance
def test_tolerance_is_the_fan_in_bound():
    magnitude = np.full((1, 2, 2, 1), 10.0)
    u = 2.0**-24
    tol = tolerance(magnitude, 27, np.float32)
    expected = (28 * u / (1 - 28 * u) + gamma(27, 2.0**-53)) * 10 + 4 * u * 10  # 2x2 outputs: floor 4
    np.testing.assert_allclose(tol, expected, rtol=1e-12)
    assert np.all(tolerance(magnitude, 27, np.int32) == 0)
    assert unit_roundoff(np.float16) == 2.0**-11


def test_compare_fails_beyond_tolerance_and_passes_within():
    """A FAIL must be possible: a result off by a padding-split error is caught, rounding is not."""
    _libraries()
    x, w = _edge_input(seed=2)
    tf = reference("tensorflow")
    plan = handconv.make_plan(x.shape, w.shape, 2, "SAME", dtype=x.dtype)
    truth = handconv.conv2d(x.astype(np.float64), w.astype(np.float64), 2, "SAME", method="naive")
    magnitude = handconv.conv2d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), 2, "SAME")
    same = tf.nn.conv2d(x, w, 2, "SAME").numpy()
    assert compare(same, truth, magnitude, plan)["status"] == PASS
    # PyTorch-style symmetric padding 1 on 6x6, stride 2: same shape, shifted windows.
    symmetric = tf.nn.conv2d(x, w, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]).numpy()
    assert symmetric.shape == same.shape
    assert compare(symmetric, truth, magnitude, plan)["status"] == FAIL
    # One ULP-scale nudge per element stays a PASS; a 1e-3 relative nudge does not.
    nudged = np.nextafter(same, np.float32(np.inf))
    assert compare(nudged, truth, magnitude, plan)["status"] == PASS
    assert compare(same * np.float32(1.001), truth, magnitude, plan)["status"] == FAIL
    assert compare(same[:, :2], truth, magnitude, plan)["status"] == FAIL  # wrong shape


def test_ulp_distance_counts_representable_values():
    one = np.float32(1.0)
    three_up = np.nextafter(np.nextafter(np.nextafter(one, np.float32(2)), np.float32(2)), np.float32(2))
    assert ulp_distance(np.array([three_up]), np.array([1.0]), np.float32)[0] == 3
    assert ulp_distance(np.array([-0.0], np.float32), np.array([0.0]), np.float32)[0] == 0
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ulp_distance(np.array([tiny]), np.array([-tiny], np.float64), np.float32)[0] == 2


def test_missing_backend_row(monkeypatch):
    ghost = references.Reference("ghost lib", "handconv_no_such_library", "ghost", lambda p: "", lambda x, w, p: x)
    monkeypatch.setitem(references.REFERENCES, "ghost lib", ghost)
    x, w = _edge_input()
    row = handconv.verify(x, w, 1, "SAME", backends=["ghost"]).row("ghost lib")
    assert row.status == MISSING and "pip install 'handconv[ghost]'" in row.translation


# ----------------------------------------------------------------- CLI
def test_cli_done_when(tmp_path, capsys):
    _libraries()
    path = tmp_path / "table.json"
    code = main(
        [
            "verify",
            "--shape",
            "6,6,3",
            "--kernel",
            "edge",
            "--stride",
            "2",
            "--padding",
            "SAME",
            "--backends",
            ",".join(IN_PROCESS),
            "--json",
            str(path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "padding='same' is not supported for strided convolutions" in out
    data = json.loads(path.read_text())
    assert data["ok"] and data["configuration"]["pad_amounts"] == [[0, 1], [0, 1]]
    assert {row["backend"]: row["status"] for row in data["rows"]}["jax.lax.conv_general_dilated"] == PASS


def test_cli_exit_code_on_fail(monkeypatch, capsys):
    wrong = references.Reference(
        "wrong lib",
        "numpy",
        "none",
        lambda p: "adds one",
        lambda x, w, p: handconv.conv2d(x, w, p.strides, "VALID") + 1,
    )
    monkeypatch.setitem(references.REFERENCES, "wrong lib", wrong)
    code = main(["verify", "--shape", "5,5,2", "--kernel", "sharpen", "--backends", "handconv,wrong"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out and "DISAGREEMENT" in out


def test_cli_input_file_and_explicit_padding(tmp_path, capsys):
    x = np.random.default_rng(4).standard_normal((5, 5, 2)).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "k.npy", np.arange(6.0).reshape(2, 3))
    code = main(
        [
            "verify",
            "--input",
            str(tmp_path / "x.npy"),
            "--kernel",
            str(tmp_path / "k.npy"),
            "--padding",
            "0,1,2,0",
            "--dilation",
            "2",
            "--backends",
            "handconv",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "float64" in out and "top 0, bottom 1, left 2, right 0" in out


def test_cli_bad_kernel_is_one_line(capsys):
    assert main(["verify", "--kernel", "nonsense", "--backends", "handconv"]) == 2
    assert "nonsense" in capsys.readouterr().err


# ----------------------------------------------------------------- property
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def configurations(draw):
    h, w, c = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    padding = (
        kind
        if kind != "EXPLICIT"
        else [
            [0, 0],
            [draw(st.integers(0, 3)), draw(st.integers(0, 3))],
            [draw(st.integers(0, 3)), draw(st.integers(0, 3))],
            [0, 0],
        ]
    )
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilations = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (
        (1, h, w, c),
        (kh, kw, c, draw(st.integers(1, 2))),
        strides,
        padding,
        dilations,
        dtype,
        draw(st.integers(0, 999)),
    )


@settings(max_examples=25, deadline=None)
@given(configurations())
def test_property_every_backend_agrees_or_says_why(config):
    """On random configurations nothing FAILs, and the four general backends always PASS."""
    _libraries()
    shape, fshape, strides, padding, dilations, dtype, seed = config
    try:
        handconv.make_plan(shape, fshape, strides, padding, "NHWC", dilations)
    except handconv.HandconvError:
        return  # the filter does not fit: conv2d's own tests cover the refusal
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(fshape).astype(dtype)
    report = handconv.verify(x, w, strides, padding, "NHWC", dilations, backends=IN_PROCESS)
    assert report.ok, report.table()
    if not report.plan.is_empty:
        for name in (
            "handconv:im2col",
            "tf.nn.conv2d (oneDNN off)",
            "torch F.pad + F.conv2d",
            "jax.lax.conv_general_dilated",
        ):
            assert report.statuses()[name] == PASS, report.table()


def test_kernel_specs_come_from_the_registry(capsys):
    assert main(["verify", "--shape", "5,5,1", "--kernel", "box:3", "--backends", "handconv"]) == 0
    assert main(["verify", "--kernel", "sobel", "--backends", "handconv"]) == 2
    assert "sobel_x" in capsys.readouterr().err


def test_cli_image_input(tmp_path, capsys):
    image = reference("PIL.Image")
    pixels = np.random.default_rng(6).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    image.fromarray(pixels).save(tmp_path / "photo.png")
    code = main(
        [
            "verify",
            "--input",
            str(tmp_path / "photo.png"),
            "--kernel",
            "sobel_x",
            "--padding",
            "SAME",
            "--backends",
            "im2col,scipy.ndimage,cv2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "9x11 pixels, 3 channel(s)" in out and "3 PASS" in out


def test_a_handconv_method_that_refuses_is_a_cannot_row(monkeypatch):
    from handconv.methods import METHODS, Method

    def picky(x, filters, plan):
        raise handconv.HandconvError("only 3x3 filters")

    monkeypatch.setitem(METHODS, "picky", Method(picky, lambda plan: 0, "refuses everything"))
    x, w = _edge_input()
    report = handconv.verify(x, w, 1, "SAME", backends=["handconv"])
    assert report.row("handconv:picky").status == CANNOT and "only 3x3" in report.row("handconv:picky").translation
    assert report.ok


def test_transform_methods_get_the_norm_wise_allowance(monkeypatch):
    """A 'winograd' method (name in TRANSFORM_METHODS) is judged norm-wise; the same error elsewhere FAILs."""
    from handconv.methods import METHODS, Method
    from handconv.verification import TRANSFORM_FACTOR, TRANSFORM_METHODS

    assert "winograd" in TRANSFORM_METHODS and TRANSFORM_FACTOR > 1
    magnitude = np.array([[[[1.0], [100.0]]]])
    direct, transform = tolerance(magnitude, 9, np.float32), tolerance(magnitude, 9, np.float32, transform=True)
    assert np.all(transform > direct)

    def noisy(x, filters, plan):  # a transform-sized error: 20 u max(A) on every element
        exact = METHODS["naive"].run(x.astype(np.float64), filters.astype(np.float64), plan)
        magnitude = METHODS["naive"].run(np.abs(x).astype(np.float64), np.abs(filters).astype(np.float64), plan)
        return (exact + 20 * 2.0**-24 * magnitude.max()).astype(np.float32)

    for name in ("winograd", "noisy"):
        monkeypatch.setitem(METHODS, name, Method(noisy, lambda plan: 0, "adds 20 u max(A)"))
    x, w = _edge_input(shape=(1, 6, 6, 1))
    statuses = handconv.verify(x, w, 1, "SAME", backends=["handconv"]).statuses()
    assert statuses["handconv:winograd"] == PASS and statuses["handconv:noisy"] == FAIL


# ------------------------------------------------------------------ conv2d_transpose
from handconv.verification import verify_transpose  # noqa: E402

TRANSPOSE = "torch F.conv_transpose2d (padding, output_padding)"
TRANSPOSE_CROP = "torch F.conv_transpose2d + crop"


def _transpose_libraries():
    for module in ("tensorflow", "torch", "jax", "keras"):
        reference(module)


def _arrays(shape, fshape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(fshape).astype(dtype)


@pytest.mark.references
def test_transpose_each_library_in_its_own_terms():
    _transpose_libraries()
    x, w = _arrays((2, 3, 3, 4), (3, 3, 2, 4))
    # 3 -> 6 with SAME: TF crops 0 at the start and 1 at the end; PyTorch's padding cannot say that.
    report = verify_transpose(x, w, (2, 6, 6, 2), 2, "SAME")
    statuses = report.statuses()
    assert report.ok, report.table()
    for name in (
        "handconv:naive",
        "tf.nn.conv2d_transpose",
        TRANSPOSE_CROP,
        "jax.lax.conv_transpose",
        "keras Conv2DTranspose",
    ):
        assert statuses[name] == PASS, report.table()
    assert statuses[TRANSPOSE] == CANNOT and "output_padding=-1" in report.row(TRANSPOSE).translation
    # 3 -> 5 with SAME crops (1, 1): PyTorch padding=1, output_padding=0 says it.
    report = verify_transpose(x, w, (2, 5, 5, 2), 2, "SAME", backends=["torch", "keras"])
    assert (
        report.statuses()[TRANSPOSE] == PASS
        and "padding=(1, 1), output_padding=(0, 0)" in report.row(TRANSPOSE).translation
    )
    assert "output_padding=(0, 0)" in report.row("keras Conv2DTranspose").translation
    assert report.to_dict()["configuration"]["output_shape"] == [2, 5, 5, 2]


@pytest.mark.references
def test_transpose_says_why_a_library_cannot():
    _transpose_libraries()
    x, w = _arrays((1, 4, 4, 4), (3, 3, 2, 4))
    report = verify_transpose(x, w, (1, 6, 6, 2), 1, [[0, 0], [1, 1], [1, 1], [0, 0]], dilations=2)
    assert report.ok, report.table()
    statuses = report.statuses()
    assert statuses["handconv:naive"] == statuses[TRANSPOSE] == statuses["jax.lax.conv_transpose"] == PASS
    assert statuses["keras Conv2DTranspose"] == CANNOT and "explicit" in report.row("keras Conv2DTranspose").translation
    # TF's reference CPU kernel (the tests run with oneDNN off) refuses dilated gradients: in its own words.
    assert (
        statuses["tf.nn.conv2d_transpose"] == CANNOT and "dilation" in report.row("tf.nn.conv2d_transpose").translation
    )


@pytest.mark.references
def test_transpose_a_wrong_library_result_fails(monkeypatch):
    reference("torch")
    x, w = _arrays((1, 3, 3, 2), (3, 3, 2, 2))
    original = references.TRANSPOSE_REFERENCES[TRANSPOSE_CROP]
    broken = references.Reference(
        original.name,
        original.module,
        original.extra,
        original.translate,
        lambda x, w, plan: original.run(x, w[::-1, ::-1], plan),
    )  # a flipped kernel
    monkeypatch.setitem(references.TRANSPOSE_REFERENCES, TRANSPOSE_CROP, broken)
    report = verify_transpose(x, w, (1, 7, 7, 2), 2, "VALID", backends=["crop"])
    assert report.statuses() == {TRANSPOSE_CROP: FAIL} and not report.ok


@settings(max_examples=12, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 2),
    st.sampled_from(["SAME", "VALID", "EXPLICIT"]),
    st.integers(0, 999),
)
def test_transpose_property_nothing_fails(n, k, s, d, kind, seed):
    _transpose_libraries()
    rng = np.random.default_rng(seed)
    padding = (
        kind
        if kind != "EXPLICIT"
        else [
            [0, 0],
            [int(rng.integers(0, k)), int(rng.integers(0, k))],
            [int(rng.integers(0, k)), int(rng.integers(0, k))],
            [0, 0],
        ]
    )
    axis_padding = kind if kind != "EXPLICIT" else tuple(padding[1])
    sizes = handconv.shapes.transposed_sizes(n, k, s, axis_padding, d)
    sizes_w = handconv.shapes.transposed_sizes(n, k, s, kind if kind != "EXPLICIT" else tuple(padding[2]), d)
    if not len(sizes) or not len(sizes_w) or min(sizes[0], sizes_w[0]) < 1:
        return
    m = (int(sizes[int(rng.integers(0, len(sizes)))]), int(sizes_w[int(rng.integers(0, len(sizes_w)))]))
    x, w = _arrays((1, n, n, 2), (k, k, 3, 2), seed)
    report = verify_transpose(x, w, (1, *m, 3), s, padding, dilations=d)
    assert report.ok, report.table()
    assert report.statuses()["handconv:naive"] == PASS
    assert report.statuses()[TRANSPOSE_CROP] in (PASS, CANNOT)
    # PyTorch's padding form works exactly when the crop at the start is not smaller than at the end.
    crops = references.transposed_crops(report.plan)
    limit = [max(s, d)] * 2
    expressible = all(0 <= start - end < lim for (start, end), lim in zip(crops, limit))
    assert (report.statuses()[TRANSPOSE] == PASS) == expressible, report.table()


def test_cli_transpose(capsys):
    _transpose_libraries()
    assert (
        main(
            [
                "verify",
                "--op",
                "conv2d_transpose",
                "--shape",
                "3,3,4",
                "--stride",
                "2",
                "--padding",
                "SAME",
                "--backends",
                "handconv:naive,tf,jax",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "output_shape=[1, 6, 6, 1]" in out and "conv2d_transpose: the input gradient" in out
    assert (
        main(
            [
                "verify",
                "--op",
                "conv2d_transpose",
                "--shape",
                "3,3,4",
                "--stride",
                "2",
                "--padding",
                "SAME",
                "--output-shape",
                "5,5",
                "--backends",
                "torch",
            ]
        )
        == 0
    )
    assert "padding=(1, 1), output_padding=(0, 0)" in capsys.readouterr().out
    assert (
        main(["verify", "--op", "conv2d_transpose", "--shape", "3,3,4", "--stride", "2", "--output-shape", "9,9"]) == 2
    )
    assert "output_shape" in capsys.readouterr().err
