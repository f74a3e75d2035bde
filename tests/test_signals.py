"""Commands stop cleanly on real signals: prompt exit, a summary, no hang, no temp file left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]


def _handconv(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "handconv", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


def _wait_for_stop_handlers(process, timeout=60.0):
    """Until the command has installed its SIGTERM handler (``SigCgt`` in /proc), i.e. main() is running.

    Before that the process is still importing, and a signal would meet Python's defaults.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with open(f"/proc/{process.pid}/status") as status:
            caught = next(int(line.split()[1], 16) for line in status if line.startswith("SigCgt:"))
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.02)
    pytest.fail("the command never installed its signal handlers")


def _wait_for_first_output(out_dir: Path, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.suffix == ".png" and not p.name.startswith(".") for p in out_dir.iterdir()):
            return
        time.sleep(0.05)
    pytest.fail("the batch wrote nothing before the signal")


@pytest.mark.parametrize(
    "signals, code", [((signal.SIGINT,), 130), ((signal.SIGINT,) * 4, 130), ((signal.SIGTERM,), 143)]
)
def test_filter_batch_stops_promptly(photos, tmp_path, signals, code):
    """Issue 12.2: one Ctrl-C used to run ~15 s more; more hung; SIGTERM left a temp file."""
    out_dir = tmp_path / "out"
    process = _handconv(["filter", str(photos), "-k", "gaussian:15:3", "--out-dir", str(out_dir), "-j", "2"])
    out_dir.mkdir(exist_ok=True)
    _wait_for_first_output(out_dir, process)
    import psutil

    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "expected worker processes"
    sent = time.monotonic()
    for number in signals:
        process.send_signal(number)
        time.sleep(0.05)
    try:
        _, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the batch hung after the signal")
    elapsed = time.monotonic() - sent
    assert process.returncode == code, err
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"
    assert "stopped:" in err and "written" in err, err
    assert "Traceback" not in err, err
    written = [p for p in out_dir.iterdir()]
    assert not [p for p in written if p.name.startswith(".")], written  # no temp file
    assert len(written) < 24
    _, alive = psutil.wait_procs(workers, timeout=3)
    assert not alive, f"workers left running: {alive}"


@pytest.mark.parametrize("signal_number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize(
    "command",
    [
        ["explain", "--format", "gif", "--shape", "40,40,3", "--padding", "SAME", "--stride", "1", "-o", "{out}/a.gif"],
        ["verify", "--shape", "6,6,3", "--json", "{out}/v.json"],
        ["demo", "--out-dir", "{out}/demo"],
    ],
)
def test_other_commands_stop_cleanly(tmp_path, command, signal_number, code):
    out = tmp_path / "out"
    out.mkdir()
    process = _handconv([part.replace("{out}", str(out)) for part in command])
    _wait_for_stop_handlers(process)
    time.sleep(2.0)  # into the work (imports of TF, matplotlib, ...)
    # Each workload takes well over 2 s (TF's import, hundreds of GIF frames): a command that is
    # already done was never interrupted, and this test would check nothing.
    assert process.poll() is None, f"{command[0]} finished before the signal; give it more work"
    process.send_signal(signal_number)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{command[0]} hung after the signal")
    assert process.returncode == code, err
    assert "Traceback" not in err, err
    leftovers = [p for p in out.rglob(".*")]
    assert not leftovers, leftovers
