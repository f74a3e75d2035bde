"""handconv.learn's training loop: step for step equal to Keras, bad input refused, no framework imported.

The step-match test is the article's "by hand vs TensorFlow" one level up: the
digits network built in Keras (TensorFlow backend), given handconv's initial
weights, fed the same mini-batches and updated by the same optimiser, must
report the same loss at each of the first 20 steps and the same gradients at
the first.

Tolerances (float32). Both sides add the same products in different orders
(TF's conv kernels and GEMMs vs handconv's), so each sum is off by a few units
of float32 rounding (eps = 1.2e-7) times the size of its terms. A gradient
sums at most 32 x 64 = 2048 products; measured relative error (max |difference|
/ max |gradient| per layer) is 0.5e-7 to 4e-7, handconv's and Keras' alike,
each against a float64 run of handconv's layers, and the bound checked is 1e-5
(room for a different BLAS, far below any real mistake: a wrong index or a
missing 1/N is off by 1e-1 or more). Over 20 Adam steps the weights drift
apart by these roundings only (Adam's first steps move every weight by about
the learning rate whatever the gradient's size, so its runs part a little
faster than SGD's): measured max loss difference 2.9e-6 with Adam, 2.4e-7
with SGD (losses about 2.3 down to 1); the bound checked is 2e-5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import reference

from handconv.errors import HandconvError
from handconv.learn import (
    SGD,
    Adam,
    SoftmaxCrossEntropy,
    batches,
    digits_model,
    fit,
    load_digits,
    make_optimizer,
    train_step,
)
from handconv.learn.digits import train_digits

STEPS = 20
BATCH = 32
GRADIENT_RTOL = 1e-5
LOSS_ATOL = 2e-5


def keras_digits_model(keras, model):
    """The digits network in Keras, holding ``model``'s current weights."""
    layers = keras.layers
    twin = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(8, 3, padding="same"),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, padding="same"),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    twin.set_weights([param.value.copy() for param in model.parameters])
    return twin


@pytest.fixture(scope="module")
def keras():
    reference("tensorflow")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = reference("keras")
    assert keras.backend.backend() == "tensorflow"
    return keras


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def first_batches(digits, seed=0, count=STEPS):
    order = batches(len(digits.x_train), BATCH, np.random.default_rng(seed))[:count]
    return [(digits.x_train[i], digits.y_train[i]) for i in order]


def relative_error(ours, truth):
    return float(np.abs(np.asarray(ours, np.float64) - truth).max() / max(np.abs(truth).max(), 1e-30))


@pytest.mark.references
def test_first_step_gradients_equal_keras_and_float64(keras, digits):
    import tensorflow as tf

    model = digits_model(seed=1)
    twin = keras_digits_model(keras, model)
    exact = digits_model(seed=1, dtype=np.float64)
    x, y = first_batches(digits, count=1)[0]

    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    exact_loss = SoftmaxCrossEntropy()
    exact_loss.forward(exact.forward(x.astype(np.float64)), y)
    exact.backward(exact_loss.backward())

    with tf.GradientTape() as tape:
        logits = twin(x, training=True)
        keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    keras_grads = tape.gradient(keras_loss, twin.trainable_variables)

    assert abs(float(loss) - float(keras_loss)) <= LOSS_ATOL
    assert len(keras_grads) == len(model.parameters) == 6
    for param, truth, keras_grad in zip(model.parameters, exact.parameters, keras_grads):
        assert param.grad.shape == tuple(keras_grad.shape), param.name
        assert param.grad.dtype == np.float32, param.name
        truth = truth.grad
        assert np.abs(truth).max() > 0, param.name  # a layer with zero gradient would compare vacuously
        assert relative_error(param.grad, truth) <= GRADIENT_RTOL, param.name
        assert relative_error(keras_grad.numpy(), truth) <= GRADIENT_RTOL, param.name
        assert relative_error(param.grad, keras_grad.numpy()) <= GRADIENT_RTOL, param.name
        print(
            f"{param.name}: ours vs float64 {relative_error(param.grad, truth):.1e}, Keras vs float64 "
            f"{relative_error(keras_grad.numpy(), truth):.1e}, "
            f"ours vs Keras {relative_error(param.grad, keras_grad.numpy()):.1e}"
        )


@pytest.mark.references
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_twenty_steps_follow_keras_loss_for_loss(keras, digits, optimizer):
    import tensorflow as tf

    model = digits_model(seed=2)
    twin = keras_digits_model(keras, model)
    start = [param.value.copy() for param in model.parameters]
    if optimizer == "adam":
        ours, theirs = Adam(model.parameters, 0.01), keras.optimizers.Adam(0.01)
    else:
        ours, theirs = SGD(model.parameters, 0.1, momentum=0.9), keras.optimizers.SGD(0.1, momentum=0.9)
    loss_fn = SoftmaxCrossEntropy()
    keras_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    our_losses, keras_losses = [], []
    for x, y in first_batches(digits, seed=2):
        our_losses.append(train_step(model, loss_fn, ours, x, y))
        with tf.GradientTape() as tape:
            loss = keras_loss_fn(y, twin(x, training=True))
        grads = tape.gradient(loss, twin.trainable_variables)
        theirs.apply_gradients(zip(grads, twin.trainable_variables))
        keras_losses.append(float(loss))

    differences = np.abs(np.array(our_losses) - np.array(keras_losses))
    assert differences.max() <= LOSS_ATOL, differences
    # The weights travel far further than the tolerance: equal losses are not two networks standing still.
    moved = [relative_error(param.value, before.astype(np.float64)) for param, before in zip(model.parameters, start)]
    assert min(moved) > 1e-2, moved
    print(f"{optimizer}: max |loss difference| over {STEPS} steps: {differences.max():.2e}")
    for param, weights in zip(model.parameters, twin.get_weights()):
        assert relative_error(param.value, weights.astype(np.float64)) <= 1e-4, param.name


def test_fit_refuses_bad_images_and_labels(digits):
    model = digits_model()
    optimizer = make_optimizer("adam", model, 0.01)
    x, y = digits.x_train[:10], digits.y_train[:10]
    cases = [
        (x[..., 0], y, r"shape \(10, 8, 8\).*\(N, 8, 8, 1\).*add the channel axis"),
        (x[:, :6], y, r"shape \(10, 6, 8, 1\)"),
        (x, y + 10, r"labels must be integers in \[0, 10\).*from \d+ to 19"),
        (x, -y - 1, r"labels must be integers in \[0, 10\)"),
        (x[:0], y[:0], r"training set is empty"),
        (x, y[:9], r"one label per image, shape \(10,\)"),
        (np.where(np.arange(10)[:, None, None, None] == 3, np.nan, x), y, r"NaN or infinite"),
        (x, y + 0.5, r"dtype float64; expected integer class labels"),
    ]
    for images, labels, message in cases:
        with pytest.raises(HandconvError, match=message):
            fit(model, optimizer, images, labels, epochs=1, batch_size=4, progress=False)
    with pytest.raises(HandconvError, match=r"epochs=0 must be an integer >= 1"):
        fit(model, optimizer, x, y, epochs=0, batch_size=4, progress=False)
    with pytest.raises(HandconvError, match="test images have shape"):
        fit(model, optimizer, x, y, x[:, :4], y, epochs=1, batch_size=4, progress=False)


def test_a_diverging_run_stops_with_a_message_not_a_nan_model(digits):
    model = digits_model()
    optimizer = make_optimizer("sgd", model, 1e30)
    with pytest.raises(HandconvError, match=r"loss became (nan|inf) at epoch 1, step \d+.*smaller learning rate"):
        fit(model, optimizer, digits.x_train[:64], digits.y_train[:64], epochs=3, batch_size=16, progress=False)


def test_same_seed_same_run_from_many_threads():
    """Training keeps its state in its own model and optimiser: parallel runs equal a lone one."""
    alone = train_digits(epochs=1, subset=96, seed=4, progress=False)
    results = [None] * 3

    def work(slot):
        results[slot] = train_digits(epochs=1, subset=96, seed=4, progress=False)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        for mine, theirs in zip(result.model.parameters, alone.model.parameters):
            np.testing.assert_array_equal(mine.value, theirs.value)
    other = train_digits(epochs=1, subset=96, seed=5, progress=False)
    assert not np.array_equal(other.model.parameters[0].value, alone.model.parameters[0].value)


def test_train_digits_writes_pictures_and_metrics(tmp_path):
    run = train_digits(tmp_path, epochs=3, subset=300, seed=0, progress=False)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["feature_maps.png", "kernels.png", "learning_curve.png", "metrics.json"]
    for name in names[:3]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train_images"] == 300 and metrics["test_images"] == 360
    assert metrics["test_accuracy"] == run.test_accuracy
    assert len(metrics["history"]["test_accuracy"]) == 3
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == 360 and np.trace(confusion) / 360 == pytest.approx(run.test_accuracy)
    # 300 images and 3 epochs already learn well beyond chance (0.1).
    assert run.test_accuracy > 0.3


def test_the_split_is_fixed_and_stratified(digits):
    again = load_digits()
    np.testing.assert_array_equal(again.y_test, digits.y_test)
    assert len(digits.x_train) == 1437 and len(digits.x_test) == 360
    counts = np.bincount(digits.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # each digit ~ 20 % of its ~180 images
    assert digits.x_train.shape[1:] == (8, 8, 1) and digits.x_train.dtype == np.float32
    assert digits.x_train.min() >= 0 and digits.x_train.max() == 1


def test_training_imports_no_framework(tmp_path):
    code = (
        "import sys\n"
        "from handconv.learn.digits import train_digits\n"
        f"train_digits({str(tmp_path)!r}, epochs=1, subset=64, progress=True)\n"
        "loaded = sorted(m for m in ('tensorflow', 'torch', 'jax', 'keras') if m in sys.modules)\n"
        "print('frameworks:', loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "frameworks: []" in done.stdout
    assert (tmp_path / "kernels.png").exists()


def test_import_handconv_does_not_import_learn():
    code = "import sys, handconv; print(sorted(m for m in sys.modules if m.startswith('handconv.learn')))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
