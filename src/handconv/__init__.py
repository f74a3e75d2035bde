"""handconv: 2-D convolution computed by hand, proven equal to ``tf.nn.conv2d``.

>>> import numpy as np, handconv
>>> handconv.output_size(5, 3, stride=2, padding=1)
3
>>> handconv.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 1)), 2, "SAME").shape
(1, 3, 3, 1)
"""

from . import explain  # a callable package: handconv.explain(...) returns a Trace
from .conv import conv2d
from .errors import HandconvError, HandconvMemoryError, HandconvTypeError
from .family import (
    conv1d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_transpose,
    conv3d,
    convolution,
    convolution_backprop_filter,
    convolution_backprop_input,
    depthwise_conv2d,
)
from .methods import METHODS
from .plan import ConvPlan, make_plan, output_shape
from .pool import avg_pool2d, avg_pool2d_grad, max_pool2d, max_pool2d_grad
from .shapes import effective_filter_size, output_size, output_size_formula, pad_amounts
from .verification import verify
from .verification.detective import diagnose

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "conv2d_backprop_input",
    "conv2d_backprop_filter",
    "conv2d_transpose",
    "depthwise_conv2d",
    "conv1d",
    "conv3d",
    "convolution",
    "convolution_backprop_input",
    "convolution_backprop_filter",
    "max_pool2d",
    "avg_pool2d",
    "max_pool2d_grad",
    "avg_pool2d_grad",
    "explain",
    "verify",
    "diagnose",
    "output_size",
    "output_shape",
    "pad_amounts",
    "output_size_formula",
    "effective_filter_size",
    "make_plan",
    "ConvPlan",
    "METHODS",
    "HandconvError",
    "HandconvTypeError",
    "HandconvMemoryError",
    "__version__",
]
