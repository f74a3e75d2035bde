"""handconv.layout: the blocked channel moves equal NumPy's moveaxis copies, for small and large arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handconv import layout


@pytest.fixture(params=[False, True], ids=["numpy-path", "blocked-path"])
def blocked(request, monkeypatch):
    """Run each test through NumPy's copy and through the block loop (tiny blocks: many, and a short last one)."""
    if request.param:
        monkeypatch.setattr(layout, "SMALL_BYTES", 0)
        monkeypatch.setattr(layout, "BLOCK_BYTES", 1)
    return request.param


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=3, max_size=5),
    dtype=st.sampled_from([np.float32, np.float64, np.int32]),
)
def test_channels_first_copy_equals_moveaxis(shape, dtype):
    for small_bytes, block_bytes in ((2**20, 2**18), (0, 1)):
        layout.SMALL_BYTES, layout.BLOCK_BYTES = small_bytes, block_bytes
        try:
            x = np.arange(np.prod(shape)).astype(dtype).reshape(shape)
            out = layout.channels_first_copy(x)
            assert out.flags.c_contiguous and out.dtype == x.dtype
            np.testing.assert_array_equal(out, np.moveaxis(x, -1, 1))
            back = layout.channels_last_copy(np.moveaxis(out, 1, -1))
            assert back.flags.c_contiguous
            np.testing.assert_array_equal(back, x)
        finally:
            layout.SMALL_BYTES, layout.BLOCK_BYTES = 2**20, 256 * 2**10


def test_no_copy_when_memory_already_has_the_order(blocked):
    planar = np.zeros((2, 3, 5, 7), np.float32)  # NCHW memory
    view = planar.transpose(0, 2, 3, 1)  # seen as NHWC
    assert np.shares_memory(layout.channels_first_copy(view), planar)
    nhwc = np.zeros((2, 5, 7, 3), np.float32)
    assert layout.channels_last_copy(nhwc) is nhwc


def test_large_image_through_the_blocks():
    """A 2 MiB image takes the blocked path with its real block size; its last block is short."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 301, 433, 4)).astype(np.float32)  # > SMALL_BYTES; pixels not a multiple of a block
    assert x.nbytes > layout.SMALL_BYTES
    np.testing.assert_array_equal(layout.channels_first_copy(x), np.moveaxis(x, -1, 1))
    planar_view = np.ascontiguousarray(np.moveaxis(x, -1, 1)).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(layout.channels_last_copy(planar_view), x)


def test_strided_input_falls_back_to_numpy(blocked):
    x = np.arange(2 * 6 * 8 * 3, dtype=np.float64).reshape(2, 6, 8, 3)[:, ::2, 1::3]
    np.testing.assert_array_equal(layout.channels_first_copy(x), np.moveaxis(x, -1, 1))
    np.testing.assert_array_equal(layout.channels_last_copy(x), x)
