"""handconv.files: atomic writes that leave no temp file, and the one rule that outputs are never inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from handconv import HandconvError
from handconv.cli import main
from handconv.files import atomic_path, refuse_overwriting_inputs, same_file


def _links(tmp_path):
    original = tmp_path / "x.npy"
    np.save(original, np.arange(36.0).reshape(6, 6, 1))
    os.symlink(original, tmp_path / "soft.npy")
    os.link(original, tmp_path / "hard.npy")
    return original, tmp_path / "soft.npy", tmp_path / "hard.npy"


def test_same_file_through_symbolic_and_hard_links(tmp_path):
    original, soft, hard = _links(tmp_path)
    assert same_file(original, soft) and same_file(original, hard) and same_file(soft, hard)
    assert not same_file(original, tmp_path / "other.npy")


def test_refuse_names_both_options(tmp_path):
    original, _, hard = _links(tmp_path)
    with pytest.raises(HandconvError, match=r"--json .*hard\.npy.* is the input --input .*x\.npy"):
        refuse_overwriting_inputs([("--json", hard)], [("--input", original)])
    refuse_overwriting_inputs([("--json", tmp_path / "report.json"), ("-o", None)], [("--input", original)])


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_leaves_no_temp_and_keeps_the_old_file(tmp_path, interrupt):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(interrupt), atomic_path(target) as temp:
        temp.write_text("half")
        raise interrupt()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("link", ["x.npy", "soft.npy", "hard.npy"])
def test_commands_refuse_to_overwrite_their_input(tmp_path, link, capsys):
    """Issue 12.3: explain and verify replaced their input; every command refuses before any work."""
    original, *_ = _links(tmp_path)
    before = original.read_bytes()
    output = str(tmp_path / link)
    commands = [
        ["explain", "--input", str(original), "--at", "0,0", "--format", "png", "-o", output],
        ["verify", "--input", str(original), "--kernel", "edge", "--backends", "handconv", "--json", output],
        ["verify", "--explain", str(original), "--input", str(tmp_path / "hard.npy"), "--json", output],
        ["filter", str(original), "-k", "box:3", "--map", "raw", "-o", output],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        assert "never overwrites its inputs" in capsys.readouterr().err
        assert original.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _npy_cases(tmp_path):
    """Files a hostile user hands to --input/--kernel/--explain."""
    import pickle

    cases = {}
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["pickled"] = "dtype object"
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    cases["strings"] = "dtype <U1"
    np.save(tmp_path / "structured.npy", np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]))
    cases["structured"] = "structured"
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense}\n" + b"\0" * 64)
    cases["garbage"] = "not a readable .npy"
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + b" " * 200_000 + b"\n"
    (tmp_path / "huge-header.npy").write_bytes(b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header)
    cases["huge-header"] = "not a readable .npy"
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }".ljust(117) + b"\n"
    (tmp_path / "lying.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    cases["lying"] = "the file is shorter"
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([1, 2]))
    cases["pickle"] = "not a readable .npy"
    return cases


def test_load_npy_refuses_hostile_files_in_one_line(tmp_path):
    from handconv.files import load_npy

    for name, message in _npy_cases(tmp_path).items():
        with pytest.raises(HandconvError, match=message):
            load_npy(tmp_path / f"{name}.npy")


def test_commands_read_hostile_npy_as_one_line_errors(tmp_path, capsys):
    """Issue 12.7: verify --explain/--input/--kernel and explain --input raised tracebacks."""
    good = tmp_path / "good.npy"
    np.save(good, np.ones((6, 6, 1)))
    for name in _npy_cases(tmp_path):
        bad = str(tmp_path / f"{name}.npy")
        for argv in (
            ["verify", "--input", bad, "--backends", "handconv"],
            ["verify", "--input", str(good), "--kernel", bad, "--backends", "handconv"],
            ["verify", "--explain", bad, "--input", str(good)],
            ["explain", "--input", bad],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "error:" in err, (argv, err)


def _python(script: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_stop_swallowed_by_a_gc_callback_is_delivered_again():
    # Where Python must drop an exception (gc and ctypes callbacks: JAX and llvmlite have them),
    # the signal is raised again in the main thread, where it unwinds.
    process = _python("""
        import gc, sys, time
        from handconv.files import Terminated, stop_on_signals
        stop_on_signals()
        def callback(phase, info):
            if phase == "start":
                gc.callbacks.remove(callback)
                raise Terminated()  # as if SIGTERM landed inside the callback
        gc.callbacks.append(callback)
        try:
            gc.collect()
            time.sleep(20)
            print("ran on")
        except Terminated:
            print("unwound")
    """)
    out, err = process.communicate(timeout=60)
    assert out.strip() == "unwound", err
    assert "Traceback" not in err


def test_a_stop_that_cannot_unwind_still_exits_and_removes_temp_files(tmp_path):
    target = tmp_path / "out.png"
    process = _python(f"""
        import time
        from handconv.files import atomic_path, stop_on_signals
        stop_on_signals()
        with atomic_path({str(target)!r}) as temp:
            temp.write_bytes(b"half")
            while True:  # code that catches the interrupt and carries on
                try:
                    print("writing", flush=True)
                    while True:
                        time.sleep(0.05)
                except KeyboardInterrupt:
                    pass
    """)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert list(tmp_path.iterdir()) == []
