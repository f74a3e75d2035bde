"""``handconv train-digits``: its output, its refusals, and clean stops on Ctrl-C and SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from handconv.cli import main


def test_a_short_run_prints_the_accuracy_last_and_writes_its_files(tmp_path, capsys):
    out = tmp_path / "digits"
    code = main(["train-digits", "--out-dir", str(out), "--epochs", "2", "--subset", "200", "--seed", "1"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: 0\.\d{3}", lines[-1])
    assert sorted(p.name for p in out.iterdir()) == [
        "feature_maps.png",
        "kernels.png",
        "learning_curve.png",
        "metrics.json",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert lines[-1] == f"test accuracy: {metrics['test_accuracy']:.3f}"
    assert metrics["seed"] == 1 and metrics["epochs"] == 2 and metrics["train_images"] == 200


def test_help_lists_train_digits(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train-digits" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--epochs", "0"], "must be >= 1"),
        (["--seed", "-1"], "must be >= 0"),
        (["--learning-rate", "nan"], "must be a finite number"),
        (["--weight-decay", "-0.1"], "must be a finite number >= 0"),
        (["--optimizer", "rmsprop"], "invalid choice"),
    ],
)
def test_bad_options_are_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-digits", *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unusable_out_dir_stops_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train-digits", "--out-dir", str(blocker / "sub"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--out-dir: cannot create the folder" in err and "Traceback" not in err


def test_a_diverging_run_stops_with_a_message(tmp_path, capsys):
    code = main(
        [
            "train-digits",
            "--out-dir",
            str(tmp_path),
            "--optimizer",
            "sgd",
            "--learning-rate",
            "1e30",
            "--weight-decay",
            "0",
            "--subset",
            "64",
            "--epochs",
            "3",
            "--no-progress",
        ]
    )
    assert code == 2
    assert re.search(r"loss became (nan|inf) at epoch 1, step \d+", capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # no pictures of a NaN model


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_training_cleanly(tmp_path, signum):
    """A real signal mid-training: exit 130 at once, one line, no pictures and no temp files left."""
    out = tmp_path / "digits"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "handconv", "train-digits", "--out-dir", str(out), "--epochs", "500", "--subset", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []
    started = threading.Event()

    def read_progress():
        for chunk in iter(lambda: process.stderr.read(1), ""):
            seen.append(chunk)
            if "epoch 2/500" in "".join(seen[-200:]):
                started.set()

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    try:
        assert started.wait(90), "training never reached epoch 2: " + "".join(seen)[-500:]
        process.send_signal(signum)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=10)
    assert process.returncode == 130
    assert "interrupted" in "".join(seen) and "Traceback" not in "".join(seen)
    assert list(out.iterdir()) == []
