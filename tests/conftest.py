"""Shared test set-up: live reference libraries, and CI's rule that they must run.

TensorFlow is imported with ``TF_ENABLE_ONEDNN_OPTS=0``: its default oneDNN CPU
path is not a trustworthy reference at the edges (it returns wrongly shaped,
uninitialised arrays for zero-size outputs, ignores batch/channel entries of
explicit padding, and aborts the process on rank-3 input). The reference kernel
it falls back to has no NCHW on CPU, so NCHW cases are compared through the
transposed NHWC problem (see ``tests/oracles.py``).

With ``HANDCONV_REQUIRE_REFERENCES=1`` (set by ``.ci/run``) a missing reference
library is an error, not a skip, and any skipped test fails the session.
"""

from __future__ import annotations

import importlib
import os

# Must happen before anything imports TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# auto's choices from the built-in rates: the same on every machine, and no
# measuring into the user's cache folder (tests/test_cost.py tests measuring).
os.environ.setdefault("HANDCONV_RATES", "reference")

import pytest  # noqa: E402

REQUIRE_REFERENCES = os.environ.get("HANDCONV_REQUIRE_REFERENCES") == "1"
_skipped: list[str] = []


def reference(module_name: str):
    """Import a reference library: skip the test locally if it is missing, fail in CI."""
    if REQUIRE_REFERENCES:
        return importlib.import_module(module_name)
    return pytest.importorskip(module_name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_REFERENCES and _skipped:
        print(
            f"\nHANDCONV_REQUIRE_REFERENCES=1 but {len(_skipped)} test(s) were skipped:\n  "
            + "\n  ".join(_skipped[:50])
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
