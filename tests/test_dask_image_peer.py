"""dask-image's ``ndfilters.correlate``/``convolve`` as a peer of ``handconv.dask.filter``.

dask-image runs scipy.ndimage per chunk with ``map_overlap``. Where the
conventions match (stride 1, SAME-sized output, odd kernels centred; SciPy's
mode names mapped through handconv's border table; ``convolve`` = correlate
with the kernel rotated 180 degrees) the results must be equal. Integer-valued
images and kernels make every sum exact, so "equal" means exactly equal.
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
ndfilters = pytest.importorskip("dask_image.ndfilters")

import handconv.dask as hd
from handconv.borders import BORDER_MODES

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (45, 38, 3)).astype(np.float64)
KERNEL = RNG.integers(-3, 4, (5, 3)).astype(np.float64)


def spec(kernel: np.ndarray) -> str:
    return str(kernel.astype(int).tolist())


@pytest.mark.parametrize("mode", sorted(BORDER_MODES))
@pytest.mark.parametrize("chunks", [(45, 38, 3), (4, 5, 3)])
def test_correlate_equals_dask_image(mode, chunks):
    lazy = da.from_array(IMAGE, chunks=chunks)
    ours = hd.filter(lazy, spec(KERNEL), mode=mode, output="raw")
    theirs = ndfilters.correlate(lazy, KERNEL[:, :, None], mode=BORDER_MODES[mode].scipy_ndimage)
    assert np.array_equal(ours.compute(), theirs.compute())


def test_convolve_is_correlate_with_the_kernel_rotated():
    lazy = da.from_array(IMAGE, chunks=(9, 8, 3))
    ours = hd.filter(lazy, spec(KERNEL[::-1, ::-1]), mode="edge", output="raw")
    theirs = ndfilters.convolve(lazy, KERNEL[:, :, None], mode="nearest")
    assert np.array_equal(ours.compute(), theirs.compute())


def test_even_kernels_differ_by_the_odd_pixel_of_padding():
    """TF's SAME puts the odd padding pixel after; SciPy centres at k // 2, i.e. before: origin -1 aligns them."""
    even = RNG.integers(-3, 4, (4, 4)).astype(np.float64)
    lazy = da.from_array(IMAGE, chunks=(10, 10, 3))
    ours = hd.filter(lazy, spec(even), output="raw").compute()
    centred = ndfilters.correlate(lazy, even[:, :, None], mode="constant").compute()
    shifted = ndfilters.correlate(lazy, even[:, :, None], mode="constant", origin=(-1, -1, 0)).compute()
    assert not np.array_equal(ours, centred)
    assert np.array_equal(ours, shifted)
