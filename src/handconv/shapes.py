"""The arithmetic of a convolution's shape, on plain integers.

These are the rules the article teaches, ``(W - F + 2P) / S + 1``, made exact
for TensorFlow's ``SAME``, ``VALID`` and explicit padding, with dilation. No
arrays are needed: every function takes and returns ``int``.

TensorFlow's reference kernel (``GetWindowedOutputSizeVerbose`` in
``tensorflow/core/framework/kernel_shape_util.cc``) is the authority:

* effective filter size ``k_eff = (k - 1) * d + 1``;
* ``VALID``: ``out = (n - k_eff + s) / s``, with C++ division, which truncates
  toward zero;
* explicit ``(before, after)``: ``out = (n + before + after - k_eff + s) / s``,
  truncating toward zero;
* ``SAME``: ``out = ceil(n / s)``; ``total = max((out - 1) * s + k_eff - n, 0)``;
  ``before = total // 2`` and ``after = total - before``, so the odd pixel goes
  at the bottom/right.

An output size of 0 is an empty (but valid) result; a negative one is an error.
Truncation toward zero matters: ``n=1, k=6, s=4`` gives ``(1 - 6 + 4) / 4 =
-0.25``, which C++ truncates to 0, so TensorFlow returns an empty result rather
than an error, and so does handconv.
"""

from __future__ import annotations

from typing import Any, Union

from .errors import HandconvError, HandconvTypeError

#: A padding for one spatial dimension: ``"SAME"``, ``"VALID"``, a symmetric
#: amount ``P`` or an explicit ``(before, after)`` pair.
AxisPadding = Union[str, int, "tuple[int, int]"]

__all__ = [
    "effective_filter_size",
    "pad_amounts",
    "output_size",
    "output_size_formula",
    "trunc_div",
    "dilated_size",
    "general_output_size",
    "general_output_size_formula",
    "transposed_sizes",
    "input_window",
    "output_chunks",
]


def trunc_div(numerator: int, denominator: int) -> int:
    """Integer division truncating toward zero, as C++ does.

    >>> trunc_div(7, 2), trunc_div(-7, 2), trunc_div(-1, 4)
    (3, -3, 0)
    """
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not is_int(value):
        raise HandconvTypeError(f"{name}={value!r} is not an integer; expected a positive int")
    if int(value) < 1:  # type: ignore[call-overload]
        raise HandconvError(f"{name}={value!r} must be a positive integer (>= 1)")
    return int(value)  # type: ignore[call-overload]


def is_int(value: object) -> bool:
    return hasattr(value, "__index__") and not isinstance(value, bool)


def effective_filter_size(filter_size: int, dilation: int = 1) -> int:
    """Size of the filter's footprint once ``dilation - 1`` gaps are put between taps.

    >>> effective_filter_size(3), effective_filter_size(3, 2), effective_filter_size(1, 5)
    (3, 5, 1)
    """
    filter_size = _check_positive_int(filter_size, "filter_size")
    dilation = _check_positive_int(dilation, "dilation")
    return (filter_size - 1) * dilation + 1


def _normalise_axis_padding(padding: AxisPadding) -> str | tuple[int, int]:
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise HandconvError(
                f"padding={padding!r} is not a padding; expected 'SAME', 'VALID', an int P or a pair (before, after)"
            )
        return upper
    if is_int(padding):
        amount = int(padding)  # type: ignore[arg-type]  # is_int narrows nothing for mypy
        pair: tuple[object, ...] = (amount, amount)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        pair = tuple(padding)
    else:
        raise HandconvError(
            f"padding={padding!r} is not a padding; expected 'SAME', 'VALID', an int P or a pair (before, after)"
        )
    if not all(is_int(p) for p in pair):
        raise HandconvTypeError(f"padding={padding!r} must hold integers")
    before, after = (int(p) for p in pair)  # type: ignore[call-overload]
    if before < 0 or after < 0:
        raise HandconvError(f"padding={padding!r} must not be negative")
    return before, after


def pad_amounts(
    size: int, filter_size: int, stride: int = 1, padding: AxisPadding = "SAME", dilation: int = 1
) -> tuple[int, int]:
    """Zeros TensorFlow adds before and after one spatial dimension.

    Parameters
    ----------
    size : int
        Input size along the dimension (``W`` in the article).
    filter_size : int
        Filter size along it (``F``).
    stride : int
        Stride along it (``S``).
    padding : {'SAME', 'VALID'} or int or (int, int)
        ``'SAME'`` resolves to TensorFlow's split, with the odd pixel after;
        an int ``P`` means ``P`` on both sides; a pair is taken as it is.
    dilation : int
        Filter dilation along it.

    Returns
    -------
    (int, int)
        ``(before, after)``: top/bottom for rows, left/right for columns.

    Examples
    --------
    The article's 5x5 input, 3x3 filter, stride 2: SAME pads one on each side,
    like its ``P=1``. On a 6x6 input SAME pads only after:

    >>> pad_amounts(5, 3, 2, "SAME"), pad_amounts(6, 3, 2, "SAME")
    ((1, 1), (0, 1))
    >>> pad_amounts(224, 7, 2, "SAME")  # the ResNet stem: (2, 3), not (3, 3)
    (2, 3)
    >>> pad_amounts(5, 3, 2, "VALID"), pad_amounts(5, 3, 2, 1), pad_amounts(5, 3, 2, (0, 2))
    ((0, 0), (1, 1), (0, 2))
    """
    size = _check_size(size)
    k_eff = effective_filter_size(filter_size, dilation)
    stride = _check_positive_int(stride, "stride")
    resolved = _normalise_axis_padding(padding)
    if resolved == "VALID":
        return 0, 0
    if resolved == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        return total // 2, total - total // 2
    return resolved  # type: ignore[return-value]


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not is_int(size):
        raise HandconvTypeError(f"size={size!r} is not an integer; expected an int >= 0")
    if int(size) < 0:  # type: ignore[call-overload]
        raise HandconvError(f"size={size!r} must not be negative")
    return int(size)  # type: ignore[call-overload]


def _raw_output_size(size: int, k_eff: int, stride: int, before: int, after: int) -> int:
    return trunc_div(size + before + after - k_eff + stride, stride)


def output_size(size: int, filter_size: int, stride: int = 1, padding: AxisPadding = "VALID", dilation: int = 1) -> int:
    """Output size along one spatial dimension, by TensorFlow's rule.

    The article's rule ``(W - F + 2P) / S + 1``, generalised: ``SAME`` gives
    ``ceil(W / S)``; otherwise ``(W + P_before + P_after - F_eff + S) / S``
    truncated toward zero, with ``F_eff = (F - 1) * dilation + 1``.

    Parameters
    ----------
    size, filter_size, stride, padding, dilation
        As in :func:`pad_amounts`.

    Returns
    -------
    int
        The output size; 0 when the filter fits nowhere (TensorFlow returns an
        empty array then).

    Raises
    ------
    HandconvError
        When the size comes out negative, which TensorFlow rejects.

    Examples
    --------
    >>> output_size(5, 3, 2, 1)          # the article: (5 - 3 + 2*1) / 2 + 1
    3
    >>> output_size(5, 3, 2, "SAME"), output_size(6, 3, 2, "SAME")
    (3, 3)
    >>> output_size(10, 3, 2, "VALID")   # (10 - 3) / 2 + 1 = 4.5, floored
    4
    >>> output_size(2, 3, 2, "VALID")    # the filter does not fit: empty
    0
    >>> output_size(12, 3, 1, "VALID", dilation=2)
    8
    """
    size = _check_size(size)
    k_eff = effective_filter_size(filter_size, dilation)
    stride = _check_positive_int(stride, "stride")
    if _normalise_axis_padding(padding) == "SAME":
        return -(-size // stride)
    before, after = pad_amounts(size, filter_size, stride, padding, dilation)
    out = _raw_output_size(size, k_eff, stride, before, after)
    if out < 0:
        raise HandconvError(
            "the filter does not fit: output size "
            + output_size_formula(size, filter_size, stride, padding, dilation, check=False)
            + " is negative, which TensorFlow rejects"
        )
    return out


def output_size_formula(
    size: int,
    filter_size: int,
    stride: int = 1,
    padding: AxisPadding = "VALID",
    dilation: int = 1,
    *,
    check: bool = True,
) -> str:
    """The output-size arithmetic written out with the given numbers.

    Examples
    --------
    >>> output_size_formula(5, 3, 2, 1)
    '(5 - 3 + 2*1) / 2 + 1 = 3'
    >>> output_size_formula(6, 3, 2, "SAME")
    'ceil(6 / 2) = 3, padding 1 = 0 before + 1 after'
    >>> output_size_formula(10, 3, 2, 0)
    '(10 - 3 + 2*0) / 2 + 1 = 4.5, truncated to 4'
    >>> output_size_formula(7, 3, 1, (0, 2), dilation=2)
    '(7 - 5 + 0 + 2) / 1 + 1 = 5   (dilated filter: (3 - 1)*2 + 1 = 5)'
    """
    size = _check_size(size)
    k_eff = effective_filter_size(filter_size, dilation)
    stride = _check_positive_int(stride, "stride")
    resolved = _normalise_axis_padding(padding)
    dilated = f"   (dilated filter: ({filter_size} - 1)*{dilation} + 1 = {k_eff})" if dilation != 1 else ""
    if resolved == "SAME":
        before, after = pad_amounts(size, filter_size, stride, "SAME", dilation)
        out = -(-size // stride)
        return f"ceil({size} / {stride}) = {out}, padding {before + after} = {before} before + {after} after{dilated}"
    before, after = resolved if isinstance(resolved, tuple) else (0, 0)  # "VALID"; SAME returned above
    pad_text = f" + 2*{before}" if before == after else f" + {before} + {after}"
    numerator = size - k_eff + before + after
    exact = numerator / stride + 1
    out = _raw_output_size(size, k_eff, stride, before, after)
    if check and out < 0:
        raise HandconvError(f"output size {exact:g} is negative")
    text = f"({size} - {k_eff}{pad_text}) / {stride} + 1 = {exact:g}"
    if exact != out:
        text += f", truncated to {out}" if out >= 0 else ""
    return text + dilated


def input_window(
    out_start: int,
    out_stop: int,
    size: int,
    filter_size: int,
    stride: int = 1,
    pad_before: int = 0,
    dilation: int = 1,
) -> tuple[int, int, int, int]:
    """Input rows outputs ``out_start .. out_stop - 1`` read, and the zeros around them.

    Output ``o`` reads padded rows ``o * stride`` to ``o * stride + k_eff - 1``,
    that is input rows ``o * stride - pad_before`` onwards. A tile of outputs
    therefore reads one contiguous run of padded rows; the part of it inside the
    input is returned as ``[start, stop)``, the parts outside as zeros before
    and after. Convolving that run with ``(before, after)`` explicit padding
    (VALID when both are 0) gives exactly ``out_stop - out_start`` outputs.

    Parameters
    ----------
    out_start, out_stop : int
        The outputs, ``0 <= out_start < out_stop``.
    size, filter_size, stride, dilation : int
        As in :func:`output_size`.
    pad_before : int
        Zeros before the input (top or left), from :func:`pad_amounts`.

    Returns
    -------
    (start, stop, before, after) : tuple of int
        Input rows ``[start, stop)`` (possibly empty) and the zeros before and after them.

    Examples
    --------
    The article: 5 rows, 3x3 filter, stride 2, one zero each side. Output rows
    0-1 read padded rows 0-4: a zero, then input rows 0-3.

    >>> input_window(0, 2, 5, 3, 2, 1)
    (0, 4, 1, 0)
    >>> input_window(2, 3, 5, 3, 2, 1)       # the last row reads input rows 3-4 and a zero
    (3, 5, 0, 1)
    >>> input_window(4, 6, 12, 3, 1, 0, 2)   # dilation 2: k_eff 5, rows 4 to 4 + 1 + 4
    (4, 10, 0, 0)
    """
    k_eff = effective_filter_size(filter_size, dilation)
    first = out_start * stride - pad_before
    last = (out_stop - 1) * stride + k_eff - pad_before  # one past the last row read
    start = min(max(first, 0), size)
    stop = max(min(last, size), start)
    before = min(max(-first, 0), last - first)
    return start, stop, before, (last - first) - before - (stop - start)


def output_chunks(
    input_chunks: tuple[int, ...], out_size: int, stride: int = 1, pad_before: int = 0
) -> tuple[int, ...]:
    """Output tiles matching an axis's input chunks: a tile starts at the first output reading its chunk.

    Output ``o`` starts reading at input row ``o * stride - pad_before``, so the
    tile of input chunk ``[b, b')`` is outputs ``ceil((b + pad_before) / stride)``
    up to that of ``b'``. Empty tiles are dropped; at least one tile remains.

    Examples
    --------
    >>> output_chunks((4, 4, 2), 10, 1, 1)       # SAME 3x3: tiles shift by the top padding
    (5, 4, 1)
    >>> output_chunks((4, 4, 2), 5, 2, 1)        # stride 2
    (3, 2)
    >>> output_chunks((1, 1, 1, 1, 1, 1), 2, 3)  # chunks smaller than the stride
    (1, 1)
    >>> output_chunks((3,), 0)
    (0,)
    """
    bounds = [0]
    position = 0
    for chunk in input_chunks[:-1]:
        position += chunk
        bounds.append(min(max(-(-(position + pad_before) // stride), 0), out_size))
    bounds.append(out_size)
    sizes = tuple(b - a for a, b in zip(bounds, bounds[1:]) if b > a)
    return sizes or (out_size,)


def input_coordinate(out_index: Any, tap: Any, stride: int, dilation: int = 1, pad_before: int = 0) -> Any:
    """Input row (or column) that filter tap ``tap`` of output ``out_index`` reads.

    A result outside ``[0, n)`` is a padding position. Works elementwise on
    NumPy integer arrays too.

    >>> input_coordinate(1, 2, stride=2, pad_before=1)   # the article: output 1, tap 2, padding 1
    3
    >>> input_coordinate(0, 0, stride=2, pad_before=1)   # the top-left tap reads padding
    -1
    """
    return out_index * stride + tap * dilation - pad_before


# --------------------------------------------------------------------------
# The general convolution (XLA's ConvGeneralDilated), and the transposed rules
# --------------------------------------------------------------------------
def dilated_size(size: int, dilation: int) -> int:
    """Length of ``size`` samples once ``dilation - 1`` zeros go between neighbours.

    >>> dilated_size(3, 2), dilated_size(1, 5), dilated_size(0, 2)
    (5, 1, 0)
    """
    return 0 if size == 0 else (size - 1) * dilation + 1


def general_output_size(
    size: int, filter_size: int, stride: int, pad: tuple[int, int], dilation: int = 1, lhs_dilation: int = 1
) -> int:
    """Output size of XLA's general convolution along one dimension.

    The input is first dilated (``lhs_dilation - 1`` zeros between samples),
    then padded by ``pad = (before, after)``, where a negative amount crops;
    the dilated filter then slides with ``stride``:
    ``out = (dilated + before + after - k_eff) // stride + 1``, or 0 when the
    window does not fit. This is the rule every mapped op (input and filter
    gradients, transposed convolution) runs under.

    >>> general_output_size(5, 3, 1, (1, 1))             # a plain SAME 3x3
    5
    >>> general_output_size(3, 3, 1, (1, 2), lhs_dilation=2)  # (5 + 1 + 2 - 3) / 1 + 1
    6
    >>> general_output_size(6, 2, 2, (0, -1))            # the last row cropped: (6 - 1 - 2) // 2 + 1
    2
    >>> general_output_size(2, 5, 1, (0, 0))             # does not fit
    0
    """
    k_eff = dilated_size(filter_size, dilation)
    padded = dilated_size(size, lhs_dilation) + pad[0] + pad[1]
    if padded < k_eff or k_eff == 0:
        return 0
    return (padded - k_eff) // stride + 1


def general_output_size_formula(
    size: int, filter_size: int, stride: int, pad: tuple[int, int], dilation: int = 1, lhs_dilation: int = 1
) -> str:
    """The general rule written out with the given numbers.

    >>> general_output_size_formula(3, 3, 1, (1, 2), lhs_dilation=2)
    '((3 - 1)*2 + 1 + 1 + 2 - 3) // 1 + 1 = 6'
    >>> general_output_size_formula(6, 2, 2, (0, -1))
    '(6 + 0 - 1 - 2) // 2 + 1 = 2'
    """
    before, after = pad
    source = f"({size} - 1)*{lhs_dilation} + 1" if lhs_dilation != 1 else str(size)
    kernel = f"({filter_size} - 1)*{dilation} + 1" if dilation != 1 else str(filter_size)
    pads = f" + {before}" if before >= 0 else f" - {-before}"
    pads += f" + {after}" if after >= 0 else f" - {-after}"
    out = general_output_size(size, filter_size, stride, pad, dilation, lhs_dilation)
    return f"({source}{pads} - {kernel}) // {stride} + 1 = {out}"


def transposed_sizes(
    size: int, filter_size: int, stride: int = 1, padding: AxisPadding = "SAME", dilation: int = 1
) -> range:
    """Every input size a forward convolution maps to ``size`` outputs.

    A transposed convolution (``conv2d_transpose``, ``conv2d_backprop_input``)
    runs the forward convolution backwards, so its result size is ambiguous
    when ``stride > 1``: TensorFlow asks for it (``output_shape``,
    ``input_sizes``) and accepts any ``n`` with ``output_size(n, ...) == size``.
    This is that set, from TF's rules in :func:`output_size`:

    * ``SAME``: ``ceil(n / s) == size``, so ``(size - 1) * s < n <= size * s``;
    * ``VALID`` and explicit ``(before, after)``: ``n + before + after`` lies in
      ``[(size - 1) * s + k_eff, (size - 1) * s + k_eff + s - 1]``.

    Examples
    --------
    >>> transposed_sizes(3, 3, 2, "SAME")          # 5 or 6 rows both give ceil(n / 2) = 3
    range(5, 7)
    >>> transposed_sizes(3, 3, 2, "VALID")         # (n - 3) // 2 + 1 = 3
    range(7, 9)
    >>> transposed_sizes(3, 3, 1, (1, 1))          # stride 1: exactly one answer
    range(3, 4)
    >>> transposed_sizes(2, 7, 2, (3, 3))          # explicit pads count as input
    range(3, 5)
    """
    size = _check_size(size)
    k_eff = effective_filter_size(filter_size, dilation)
    stride = _check_positive_int(stride, "stride")
    resolved = _normalise_axis_padding(padding)
    if resolved == "SAME":
        return range((size - 1) * stride + 1, size * stride + 1) if size else range(0, 1)
    before, after = resolved if isinstance(resolved, tuple) else (0, 0)  # "VALID"; SAME returned above
    if size == 0:  # TF truncates toward zero: (n + pads - k_eff + s) / s in (-1, 1) gives 0
        low = k_eff - before - after - 2 * stride + 1
        return range(max(0, low), max(0, k_eff - before - after))
    first = (size - 1) * stride + k_eff - before - after
    return range(max(first, 0), max(first + stride, 0))
