"""``handconv.dask.conv2d``: ``tf.nn.conv2d``'s semantics on a chunked ``dask.array``.

Tiles are planned in *output* space. Along each spatial axis the output is cut
where the input's chunks begin (:func:`handconv.shapes.output_chunks`), and
output tile ``[o0, o1)`` reads the run of input rows its receptive fields cover,
with the zeros of the padding before and after it
(:func:`handconv.shapes.input_window`): halo, stride, dilation, SAME's odd
pixel and even kernels come from the same arithmetic as the in-memory plan.
Each tile is then an ordinary in-memory convolution of that run with explicit
``(before, after)`` padding, through :func:`handconv.conv.convolve_canonical`,
so with an explicit ``method`` every output number is computed by the same
arithmetic, in the same order, as by :func:`handconv.conv2d` (see
:data:`TILE_DEPENDENT` for the methods whose rounding depends on the tile).

One task per output tile depends on the input chunks it overlaps, so a chunk
smaller than the halo is no special case: the tile gathers from as many chunks
as it needs. A chunk it needs only part of (a halo strip) reaches it through a
small task that cuts that part out, so a cluster moves strips, not whole chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from .. import shapes
from ..borders import pad_border
from ..conv import (
    as_arrays,
    convolve_canonical,
    from_canonical,
    resolve_method,
    to_canonical,
)
from ..errors import HandconvError, HandconvTypeError
from ..methods import METHODS, select_method
from ..plan import ConvPlan, make_plan

__all__ = ["TILE_DEPENDENT", "conv2d", "tiled_conv"]

#: Methods whose rounding depends on the tile, so that tiled results agree with the
#: in-memory ones to float rounding (tested to the error bound), not bit for bit.
#: ``im2col``, ``gemm`` and ``gather`` hand matrix products to BLAS, which picks its
#: kernels (and so its order of summing, measured here) by the matrices' sizes;
#: ``toeplitz`` also sizes its tiles by the output width; ``winograd`` mixes a whole
#: 6x6 input tile into each output, tiles anchored at output 0. ``naive`` and
#: ``direct`` sum each output's products in a fixed order whatever the image size:
#: bit-identical for every chunking (``direct`` with numba; its NumPy fallback, used
#: without numba, sums through ``np.einsum``, whose SIMD loops depend on buffer
#: alignment, so it agrees to float rounding only, as two in-memory calls may). On
#: integer-valued data every method but ``winograd`` is exact, hence bit-identical too.
TILE_DEPENDENT = frozenset({"im2col", "gemm", "gather", "toeplitz", "winograd"})


def _is_dask(value: Any) -> bool:
    import dask.array as da

    return isinstance(value, da.Array)


def conv2d(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
    tile: Any = None,
):
    """:func:`handconv.conv2d` on a ``dask.array``, lazily, tile by tile.

    Parameters
    ----------
    input : dask.array.Array of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        Chunked in any way along any axis (irregular chunks and chunks smaller
        than the filter's reach included). Other array-likes are converted as
        :func:`handconv.conv2d` converts them and wrapped in one chunk.
    filters : array_like of shape (KH, KW, C / groups, C_out)
        In memory (a small array); cast to the input's dtype.
    strides, padding, data_format, dilations
        As in :func:`handconv.conv2d`.
    method : str
        ``'auto'``: the method :func:`handconv.conv2d` would pick for the whole
        image, on every tile it supports (else the tile's own choice). A
        named method runs on every tile; the result is then bit-identical to
        the in-memory call, except for :data:`TILE_DEPENDENT` methods (equal
        to float rounding).
    tile : int or (int, int), optional
        Output tile size (rows, columns); default one tile per input chunk.

    Returns
    -------
    dask.array.Array of shape batch_shape + (OH, OW, C_out) or batch_shape + (C_out, OH, OW)
        Lazy; chunked like the input along the batch, one chunk of output
        channels, and spatially one tile per input chunk
        (:func:`handconv.shapes.output_chunks`).

    Raises
    ------
    HandconvError, HandconvTypeError
        As :func:`handconv.conv2d`, at call time (before anything is computed).

    Examples
    --------
    >>> import numpy as np, dask.array as da, handconv
    >>> x = np.arange(2 * 9 * 7 * 3, dtype=np.float64).reshape(2, 9, 7, 3)
    >>> w = np.ones((3, 3, 3, 4))
    >>> lazy = conv2d(da.from_array(x, chunks=(1, 2, 3, 3)), w, 2, "SAME", method="naive")
    >>> lazy.shape, lazy.chunks[1:3]
    ((2, 5, 4, 4), ((2, 1, 1, 1), (2, 2)))
    >>> bool((lazy.compute() == handconv.conv2d(x, w, 2, "SAME", method="naive")).all())
    True
    """
    import dask.array as da

    if _is_dask(input):
        x = input
        _, w = as_arrays(
            np.empty((0,), dtype=x.dtype), np.asarray(filters) if not _is_dask(filters) else filters.compute()
        )
    else:
        array, w = as_arrays(input, filters)
        x = da.from_array(np.asarray(array), chunks=array.shape or ())
    plan = make_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    return tiled_conv(x, w, plan, method, tile=check_tile(tile))


def check_tile(tile: Any) -> tuple[int, int] | None:
    """``tile`` as (rows, columns) of positive ints, or None.

    >>> check_tile(256), check_tile((64, 32)), check_tile(None)
    ((256, 256), (64, 32), None)
    """
    if tile is None:
        return None
    values = [tile] if shapes.is_int(tile) else list(tile) if isinstance(tile, (tuple, list)) else None
    if (
        values is None
        or len(values) not in (1, 2)
        or not all(shapes.is_int(v) and not isinstance(v, bool) for v in values)
    ):
        raise HandconvTypeError(f"tile={tile!r} must be an int or a pair of ints (rows, columns)")
    if min(values) < 1:
        raise HandconvError(f"tile={tile!r} must be positive")
    rows, cols = (values * 2)[:2]
    return int(rows), int(cols)


@dataclass(frozen=True)
class _Tile:
    """What one output tile's task needs besides the chunks: how to lay them out and convolve."""

    window_shape: tuple[int, ...]
    input_dtype: np.dtype
    #: For each input chunk the task receives: per axis, (positions in the window, positions in the chunk).
    placements: tuple[tuple[tuple[Any, Any], ...], ...]
    pads: tuple[tuple[int, int], tuple[int, int]]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    data_format: str
    dtype: np.dtype
    method: str
    auto_choice: str | None
    prepare: Callable[[np.ndarray], np.ndarray] | None


def _as_index(positions: np.ndarray) -> Any:
    """A slice when ``positions`` is a run ``a, a+1, ..., b-1``; the array otherwise."""
    if positions.size and np.array_equal(positions, np.arange(positions[0], positions[0] + positions.size)):
        return slice(int(positions[0]), int(positions[0]) + positions.size)
    return positions


def _is_whole(index: Any, size: int) -> bool:
    return isinstance(index, slice) and index.start in (0, None) and index.stop in (size, None)


def _take(chunk: np.ndarray, index: tuple[Any, ...]) -> np.ndarray:
    """The part of a chunk a tile needs (a copy: the chunk itself can then be released)."""
    part = chunk
    for axis, positions in enumerate(index):
        part = part[(slice(None),) * axis + (positions,)]
    return np.array(part, copy=True)


def _assemble(tile: _Tile, chunks: Sequence[np.ndarray]) -> np.ndarray:
    # Zeros where no chunk lands: a window that lies wholly in the padding gets no chunks at all.
    window = np.zeros(tile.window_shape, dtype=tile.input_dtype)
    for chunk, placement in zip(chunks, tile.placements):
        target = tuple(p for p, _ in placement)
        source = tuple(s for _, s in placement)
        if all(isinstance(i, slice) for i in target + source):
            window[target] = chunk[source]
        else:
            take = chunk[np.ix_(*[np.arange(chunk.shape[a])[s] for a, s in enumerate(source)])]
            window[np.ix_(*[np.arange(tile.window_shape[a])[t] for a, t in enumerate(target)])] = take
    return window


def _run_tile(tile: _Tile, filters: np.ndarray, *chunks: np.ndarray) -> np.ndarray:
    """One output tile: gather its input window from the chunks, convolve it in memory."""
    window = _assemble(tile, chunks)
    if tile.prepare is not None:
        window = tile.prepare(window)
    (t, b), (left, r) = tile.pads
    spatial = [[0, 0], [t, b], [left, r], [0, 0]] if tile.data_format == "NHWC" else [[0, 0], [0, 0], [t, b], [left, r]]
    plan = make_plan(window.shape, filters.shape, tile.strides, spatial, tile.data_format, tile.dilations, tile.dtype)
    if tile.auto_choice is None:
        name = resolve_method(tile.method, plan)
    elif METHODS[tile.auto_choice].supports(plan):
        name = tile.auto_choice
    else:
        name = select_method(plan)
    return from_canonical(convolve_canonical(to_canonical(window, plan), filters, plan, name), plan)


def _border_index(size: int, pads: tuple[int, int], border: str) -> np.ndarray:
    """Input index of each position of the border-extended axis (the same ``np.pad`` as in memory)."""
    return pad_border(np.arange(size).reshape(1, size, 1, 1), (pads, (0, 0)), border)[0, :, 0, 0]


#: One output tile along one spatial axis: the input positions it reads (in order) and its zero pads.
_AxisTile = tuple[np.ndarray, tuple[int, int]]


def _axis_tiles(
    x: Any, plan: ConvPlan, axis_number: int, axis: int, tile: tuple[int, int] | None, border: str | None
) -> tuple[list[_AxisTile], tuple[int, ...]]:
    """Along spatial axis ``axis_number`` (``x``'s axis ``axis``): each output tile's reads, and the output chunks."""
    size, k = plan.input_hw[axis_number], plan.filter_hw[axis_number]
    stride, dilation = plan.strides[axis_number], plan.dilations[axis_number]
    pad_before = plan.pad_amounts[axis_number][0]
    out_size = plan.output_hw[axis_number]
    if tile is None:
        chunks = shapes.output_chunks(x.chunks[axis], out_size, stride, pad_before)
    else:
        step = max(1, int(tile[axis_number]))
        chunks = tuple(min(step, out_size - i) for i in range(0, out_size, step)) or (0,)
    index_map = None if border is None else _border_index(size, plan.pad_amounts[axis_number], border)
    tiles: list[_AxisTile] = []
    start_out = 0
    for length in chunks:
        start, stop, before, after = shapes.input_window(
            start_out, start_out + length, size, k, stride, pad_before, dilation
        )
        if index_map is None:
            tiles.append((np.arange(start, stop), (before, after)))
        else:
            first = start - before + pad_before  # the run's first row in the extended axis
            tiles.append((index_map[first : first + before + (stop - start) + after], (0, 0)))
        start_out += length
    return tiles, chunks


class _Reads:
    """Which input positions each output block reads, axis by axis, and from which chunks."""

    def __init__(
        self, x: Any, spatial_axes: tuple[int, int], channel_axis: int, spatial_tiles: list[list[_AxisTile]]
    ) -> None:
        self.x = x
        self.spatial_axes = spatial_axes
        self.channel_axis = channel_axis
        self.spatial_tiles = spatial_tiles
        self.bounds = [np.concatenate([[0], np.cumsum(c)]).astype(np.int64) for c in x.chunks]

    def positions(self, axis: int, index: int) -> np.ndarray:
        """The input positions output block ``index`` along ``axis`` reads, in window order."""
        if axis in self.spatial_axes:
            return self.spatial_tiles[self.spatial_axes.index(axis)][index][0]
        if axis == self.channel_axis:
            return np.arange(self.x.shape[axis])
        return np.arange(self.bounds[axis][index], self.bounds[axis][index + 1])  # batch: chunk i is chunk i

    def window_shape(self, block: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(len(self.positions(axis, index)) for axis, index in enumerate(block))

    def runs(self, axis: int, index: int) -> list[tuple[int, Any, Any]]:
        """(chunk, window positions, chunk positions) for the chunks an axis window touches."""
        wanted = self.positions(axis, index)
        bounds = self.bounds[axis]
        owner = np.searchsorted(bounds, wanted, side="right") - 1
        result = []
        for chunk in np.unique(owner):
            where = np.nonzero(owner == chunk)[0]
            result.append((int(chunk), _as_index(where), _as_index(wanted[where] - bounds[chunk])))
        return result


def _block_inputs(
    x: Any, reads: _Reads, block: tuple[int, ...], part_name: str, layer: dict[Any, Any]
) -> tuple[list[Any], list[Any]]:
    """The keys an output block's task takes (whole chunks, or halo strips added to ``layer``) and their placements."""
    per_axis = [reads.runs(axis, block[axis]) for axis in range(x.ndim)]
    keys, placements = [], []
    for combo in product(*per_axis):
        chunk_key = (x.name, *[c for c, _, _ in combo])
        sources = tuple(source for _, _, source in combo)
        if all(_is_whole(source, x.chunks[axis][c]) for axis, (c, _, source) in enumerate(combo)):
            keys.append(chunk_key)
            placements.append(tuple((target, source) for _, target, source in combo))
        else:
            # Only a halo strip of this chunk is needed: cut it out in a task of its own, so a
            # cluster moves the strip to the tile's worker, not the whole chunk.
            part_key = (part_name, *block, *[c for c, _, _ in combo])
            layer[part_key] = (_take, chunk_key, sources)
            keys.append(part_key)
            placements.append(tuple((target, slice(None)) for _, target, _ in combo))
    return keys, placements


def tiled_conv(
    x: Any,
    filters: np.ndarray,
    plan: ConvPlan,
    method: str = "auto",
    *,
    border: str | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    tile: tuple[int, int] | None = None,
):
    """The tile graph behind :func:`conv2d`, for callers with a validated plan.

    Parameters
    ----------
    x : dask.array.Array
        The input, in ``plan``'s layout (batch axes, then ``(H, W, C)`` or ``(C, H, W)``).
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan
        The whole convolution's plan.
    method : str
    border : str, optional
        A border mode other than zeros (``'reflect'``, ``'edge'``, ...): the
        padding holds the extended image, gathered by the tile from the chunks
        that hold those pixels, as :func:`handconv.borders.pad_border` extends
        it in memory, and each tile is convolved VALID.
    prepare : callable, optional
        Applied to each gathered window before the convolution, pixel by pixel
        (a dtype cast, gray conversion); ``x``'s channels may differ from the
        plan's. Must be picklable for a distributed cluster.
    tile : (int, int), optional
        Output tile height and width; default one tile per input chunk
        (:func:`handconv.shapes.output_chunks`).

    Returns
    -------
    dask.array.Array of shape ``plan.user_output_shape``
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = resolve_method(method, plan) if method != "auto" else "auto"
    auto_choice = None if method != "auto" else select_method(plan)
    out_shape = plan.user_output_shape
    if plan.is_empty:
        return da.zeros(out_shape, dtype=plan.dtype)
    ndim = x.ndim
    nchw = plan.data_format == "NCHW"
    spatial_axes = (ndim - 2, ndim - 1) if nchw else (ndim - 3, ndim - 2)
    channel_axis = ndim - 3 if nchw else ndim - 1
    # Per spatial axis: each output tile's (source indices, zero pads), and the output chunks.
    spatial = [_axis_tiles(x, plan, number, axis, tile, border) for number, axis in enumerate(spatial_axes)]
    spatial_tiles = [tiles for tiles, _ in spatial]

    out_chunks = list(x.chunks)
    out_chunks[spatial_axes[0]], out_chunks[spatial_axes[1]] = (chunks for _, chunks in spatial)
    out_chunks[channel_axis] = (plan.out_channels,)
    token = tokenize(x, filters, plan, method, border, prepare, tile)
    out_name = f"handconv-conv2d-{token}"
    filters_key = (f"handconv-filters-{token}",)
    layer: dict[Any, Any] = {filters_key: filters}
    reads = _Reads(x, spatial_axes, channel_axis, spatial_tiles)

    for block in product(*[range(len(c)) for c in out_chunks]):
        keys, placements = _block_inputs(x, reads, block, f"handconv-halo-{token}", layer)
        tile_task = _Tile(
            window_shape=reads.window_shape(block),
            input_dtype=x.dtype,
            placements=tuple(placements),
            pads=(spatial_tiles[0][block[spatial_axes[0]]][1], spatial_tiles[1][block[spatial_axes[1]]][1]),
            strides=plan.strides,
            dilations=plan.dilations,
            data_format=plan.data_format,
            dtype=plan.dtype,
            method=name,
            auto_choice=auto_choice,
            prepare=prepare,
        )
        output_key = (out_name, *block)  # (mypy reads a starred tuple in [] as Python 3.11 syntax)
        layer[output_key] = (_run_tile, tile_task, filters_key, *keys)
    graph = HighLevelGraph.from_collections(out_name, layer, dependencies=[x])
    meta = np.empty((0,) * len(out_shape), dtype=plan.dtype)
    return da.Array(graph, out_name, tuple(out_chunks), meta=meta)
