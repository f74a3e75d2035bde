"""``handconv.borders`` against the libraries whose names it maps: np.pad, scipy.ndimage,
scipy.signal, cv2.copyMakeBorder, torch F.pad and tf.pad, each asked to extend the
same row. A mode's ``extension`` text and ``pad_border`` must say what the library does."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference

from handconv.borders import ALIASES, BORDER_MODES, extension, pad_border, resolve_mode
from handconv.commands.modes import aliases_of, rosetta_markdown, rosetta_table
from handconv.errors import HandconvError

ROW = np.array([1.0, 2.0, 3.0, 4.0])  # "a b c d"
PAD = 2


def expected_extension(mode: str) -> list[float]:
    """The row as handconv's ``extension`` text describes it, read back as numbers."""
    text = extension(mode, "1 2 3 4", PAD).replace("|", " ")
    return [float(v) for v in text.split()]


def ndimage_extension(mode: str) -> list[float]:
    """scipy.ndimage's extension, read off correlations with one-hot weights."""
    ndimage = reference("scipy.ndimage")
    width = 2 * PAD + 1
    one_hot = np.eye(width)
    left = [ndimage.correlate1d(ROW, one_hot[j], mode=mode, cval=0.0)[0] for j in range(PAD)]
    right = [ndimage.correlate1d(ROW, one_hot[j], mode=mode, cval=0.0)[-1] for j in range(PAD + 1, width)]
    return left + list(ROW) + right


def signal_extension(boundary: str) -> list[float]:
    signal = reference("scipy.signal")
    width = 2 * PAD + 1
    one_hot = np.eye(width)
    row = ROW[None]
    left = [signal.correlate2d(row, one_hot[j][None], mode="same", boundary=boundary)[0, 0] for j in range(PAD)]
    right = [
        signal.correlate2d(row, one_hot[j][None], mode="same", boundary=boundary)[0, -1] for j in range(PAD + 1, width)
    ]
    return left + list(ROW) + right


@pytest.mark.parametrize("mode", list(BORDER_MODES))
def test_extension_matches_numpy(mode):
    numpy_name = BORDER_MODES[mode].numpy
    assert list(np.pad(ROW, PAD, mode=numpy_name)) == expected_extension(mode)


@pytest.mark.parametrize("mode", list(BORDER_MODES))
def test_extension_matches_scipy_ndimage(mode):
    assert ndimage_extension(BORDER_MODES[mode].scipy_ndimage) == expected_extension(mode)


@pytest.mark.parametrize("mode", [m for m in BORDER_MODES if BORDER_MODES[m].scipy_signal])
def test_extension_matches_scipy_signal(mode):
    assert signal_extension(BORDER_MODES[mode].scipy_signal) == expected_extension(mode)


@pytest.mark.parametrize("mode", [m for m in BORDER_MODES if BORDER_MODES[m].opencv])
def test_extension_matches_opencv(mode):
    cv2 = reference("cv2")
    border = getattr(cv2, BORDER_MODES[mode].opencv)
    out = cv2.copyMakeBorder(ROW[None].astype(np.float32), 0, 0, PAD, PAD, border, value=0)
    assert [float(v) for v in out[0]] == expected_extension(mode)


def test_opencv_filter2d_rejects_wrap():
    cv2 = reference("cv2")
    image, kernel = np.ones((5, 5), np.float32), np.ones((3, 3), np.float32)
    with pytest.raises(cv2.error, match="BORDER_WRAP"):
        cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_WRAP)


@pytest.mark.parametrize("mode", [m for m in BORDER_MODES if BORDER_MODES[m].torch])
def test_extension_matches_torch(mode):
    torch = reference("torch")
    # nn.Conv2d's padding_mode 'zeros' is F.pad's 'constant'.
    name = {"zeros": "constant"}.get(BORDER_MODES[mode].torch, BORDER_MODES[mode].torch)
    out = torch.nn.functional.pad(torch.from_numpy(ROW)[None, None], (PAD, PAD), mode=name)
    assert out[0, 0].tolist() == expected_extension(mode)


@pytest.mark.parametrize("mode", [m for m in BORDER_MODES if BORDER_MODES[m].tf_pad])
def test_extension_matches_tf_pad(mode):
    tf = reference("tensorflow")
    out = tf.pad(ROW, [[PAD, PAD]], mode=BORDER_MODES[mode].tf_pad).numpy()
    assert list(out) == expected_extension(mode)


def test_every_library_name_resolves_to_its_row():
    for mode in BORDER_MODES.values():
        assert resolve_mode(mode.numpy if mode.name != "zeros" else "constant") == mode.name
        assert resolve_mode(f"scipy:{mode.scipy_ndimage}") == mode.name
        if mode.opencv:
            assert resolve_mode(mode.opencv) == mode.name and resolve_mode(f"cv2.{mode.opencv}") == mode.name
        if mode.torch:
            assert resolve_mode(f"torch:{mode.torch}") == mode.name
        if mode.tf_pad:
            assert resolve_mode(f"tf:{mode.tf_pad}") == mode.name
    assert resolve_mode("reflect") == "reflect" and resolve_mode("scipy:reflect") == "symmetric"
    assert resolve_mode("torch:constant") == "zeros"  # F.pad's word for nn.Conv2d's 'zeros'
    with pytest.raises(HandconvError, match="handconv modes"):
        resolve_mode("bogus")


def test_pad_border_is_np_pad_on_images():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float64).reshape(2, 4, 5, 3)
    for mode in BORDER_MODES:
        out = pad_border(x, ((1, 2), (3, 0)), mode)
        expected = np.pad(x, ((0, 0), (1, 2), (3, 0), (0, 0)), mode=BORDER_MODES[mode].numpy)
        np.testing.assert_array_equal(out, expected)


def test_rosetta_outputs_list_every_mode_and_alias():
    table, page = rosetta_table(), rosetta_markdown()
    for mode in BORDER_MODES.values():
        assert extension(mode.name) in table
        assert "`" + extension(mode.name).replace("|", "\\|") + "`" in page  # escaped inside the table
    assert set(ALIASES) == {alias for mode in BORDER_MODES for alias in aliases_of(mode)}
