"""The verification tools: is handconv's result TensorFlow's, and whose convention made an output?

Three modules, one job each:

* :mod:`handconv.verification.report` – :func:`verify` and :func:`verify_transpose`, the agreement table: one
  call through handconv's methods and every installed library, each compared with a float64 truth within a
  stated tolerance.
* :mod:`handconv.verification.references` – the adapters that ask TensorFlow, PyTorch, JAX, SciPy and OpenCV for
  the same call in their own terms.
* :mod:`handconv.verification.detective` – :func:`diagnose` and :func:`diagnose_transpose`, the convention
  detective: given an input, a kernel and someone else's output, which convention produced it.

The agreement table's names are re-exported here (``from handconv.verification import verify``), so the import
path users had before the package keeps working.

The package is not called ``verify``: that name is the public function ``handconv.verify``.
"""

from .report import (
    CANNOT,
    ERROR,
    FAIL,
    MISSING,
    NAIVE_TRUTH_LIMIT,
    PASS,
    TRANSFORM_FACTOR,
    TRANSFORM_METHODS,
    Row,
    VerifyReport,
    compare,
    float64_truth,
    floor_factor,
    gamma,
    kernel_to_filters,
    named_kernel,
    tolerance,
    ulp_distance,
    unit_roundoff,
    verify,
    verify_transpose,
)

__all__ = [
    "verify",
    "verify_transpose",
    "VerifyReport",
    "Row",
    "compare",
    "float64_truth",
    "tolerance",
    "floor_factor",
    "gamma",
    "unit_roundoff",
    "ulp_distance",
    "named_kernel",
    "kernel_to_filters",
    "TRANSFORM_METHODS",
    "TRANSFORM_FACTOR",
    "NAIVE_TRUTH_LIMIT",
    "PASS",
    "FAIL",
    "CANNOT",
    "MISSING",
    "ERROR",
]
