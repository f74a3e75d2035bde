"""The reference adapters against TensorFlow called directly (tests/oracles.py).

Each adapter translates a plan into its library's own call; here every
translation that claims it can express a configuration must give the numbers
``tf.nn.conv2d`` gives (reference kernel, float64, in this process), and every
refusal must carry a reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from oracles import tf_conv2d

from handconv.conv import to_canonical
from handconv.plan import make_plan
from handconv.verification.references import (
    REFERENCES,
    CannotExpress,
    MissingLibrary,
    Reference,
    clean_message,
    onednn_in_process,
    tf_conv2d_raw,
)

# (input shape NHWC, filters HWIO, strides, padding, dilations)
GRID = [
    ((1, 6, 6, 3), (3, 3, 3, 1), 2, "SAME", 1),
    ((1, 5, 5, 3), (3, 3, 3, 2), 1, "SAME", 1),
    ((2, 6, 7, 2), (2, 2, 2, 2), 1, "SAME", 1),  # even kernel: SAME split matters
    ((1, 6, 7, 2), (3, 2, 2, 2), 1, "VALID", 1),
    ((1, 6, 6, 2), (3, 3, 2, 1), 1, [[0, 0], [0, 1], [2, 0], [0, 0]], 1),  # asymmetric
    ((1, 6, 6, 2), (3, 3, 2, 1), 1, [[0, 0], [2, 2], [1, 1], [0, 0]], 1),  # symmetric
    ((1, 8, 8, 1), (3, 3, 1, 2), 1, "SAME", 2),
    ((1, 9, 9, 2), (3, 3, 2, 1), 2, "SAME", 2),
    ((1, 5, 5, 4), (3, 3, 2, 4), 1, "VALID", 1),  # 2 groups
    ((1, 4, 4, 1), (1, 1, 1, 1), 1, [[0, 0], [4, 0], [0, 0], [0, 0]], 1),  # pad beyond the filter reach
]
IN_PROCESS = [name for name in REFERENCES if "oneDNN on" not in name]


def _libraries():
    for module in ("tensorflow", "torch", "jax", "scipy", "cv2"):
        reference(module)


@pytest.mark.parametrize("name", IN_PROCESS)
@pytest.mark.parametrize("case", GRID, ids=[f"case{i}" for i in range(len(GRID))])
def test_reference_equals_tf_or_says_why_not(name, case):
    _libraries()
    shape, fshape, strides, padding, dilations = case
    rng = np.random.default_rng(len(name) + len(str(case)))
    x = rng.standard_normal(shape)
    w = rng.standard_normal(fshape)
    plan = make_plan(shape, fshape, strides, padding, "NHWC", dilations, np.float64)
    adapter = REFERENCES[name]
    try:
        adapter.translate(plan)
    except CannotExpress as reason:
        assert len(str(reason)) > 10
        return
    expected = tf_conv2d(x, w, strides, padding, "NHWC", dilations)
    try:
        got = adapter.run(to_canonical(x, plan), w, plan)
    except RuntimeError as refusal:  # the one refusal handconv leaves to the library to state
        assert name == "torch F.conv2d (padding string/int)" and "strided" in str(refusal)
        return
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def _plan(strides=1, padding="VALID", dilations=1, fshape=(3, 3, 3, 1), shape=(1, 6, 6, 3)):
    return make_plan(shape, fshape, strides, padding, "NHWC", dilations, np.float32)


def test_translations_that_cannot_say_why():
    strided, dilated = _plan(strides=2, padding="SAME"), _plan(dilations=2)
    asymmetric = _plan(padding=[[0, 0], [0, 1], [1, 1], [0, 0]])
    for name in ("scipy.signal.correlate", "scipy.ndimage.correlate", "cv2.filter2D"):
        with pytest.raises(CannotExpress, match="no stride"):
            REFERENCES[name].translate(strided)
        with pytest.raises(CannotExpress, match="no dilation"):
            REFERENCES[name].translate(dilated)
    with pytest.raises(CannotExpress, match="asymmetric"):
        REFERENCES["torch F.conv2d (padding string/int)"].translate(asymmetric)
    assert "F.pad(x, (1, 1, 0, 1))" in REFERENCES["torch F.pad + F.conv2d"].translate(asymmetric)


def test_torch_string_same_with_stride_is_refused_by_torch_itself():
    torch = reference("torch")
    plan = _plan(strides=2, padding="SAME")
    adapter = REFERENCES["torch F.conv2d (padding string/int)"]
    assert "padding='same'" in adapter.translate(plan)  # handconv does not pre-empt torch's answer
    with pytest.raises(RuntimeError, match="strided"):
        adapter.run(np.zeros((1, 6, 6, 3), np.float32), np.zeros((3, 3, 3, 1), np.float32), plan)
    assert torch.__version__


def test_onednn_subprocess_reports_tf_errors():
    """The other oneDNN setting runs in a subprocess; TF's refusal comes back as one clean line.

    (Its numbers are checked once, by the oneDNN row in tests/test_verification_report.py.)
    """
    reference("tensorflow")
    assert not onednn_in_process()  # conftest turns oneDNN off in the test process
    x = np.ones((1, 4, 4, 1), np.float32)
    with pytest.raises(RuntimeError, match="^InvalidArgumentError: .*NOPE") as refusal:
        tf_conv2d_raw(x, x[0, :3, :3, :, None], {"strides": 1, "padding": "NOPE"}, onednn=True)
    assert "allowed values" in clean_message(refusal.value) and "NodeDef" not in clean_message(refusal.value)


def test_missing_library_names_the_extra():
    ghost = Reference("ghost", "handconv_no_such_library", "ghost-extra", lambda plan: "", lambda x, w, p: x)
    with pytest.raises(MissingLibrary, match=r"pip install 'handconv\[ghost-extra\]'"):
        ghost.version()


def test_clean_message_keeps_the_reason():
    message = (
        "tensorflow.python.framework.errors_impl.UnimplementedError: {{function_node "
        "__wrapped__Conv2D_device_/job:localhost/replica:0/task:0/device:CPU:0}} The Conv2D op "
        "currently only supports the NHWC tensor format on the CPU. [Op:Conv2D] name: "
    )
    assert clean_message(message) == (
        "UnimplementedError: The Conv2D op currently only supports the NHWC tensor format on the CPU."
    )
