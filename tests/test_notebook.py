"""The notebooks (article.ipynb, learning.ipynb) run from top to bottom and are committed without outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from conftest import reference
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "article.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_executes(tmp_path, monkeypatch):
    reference("tensorflow")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel is this interpreter (the venv's ipykernel) and imports the handconv under test.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    texts = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    assert "(5 - 3 + 2*1) / 2 + 1 = 3" in texts
    assert "max |difference|: 0.0" in texts
    assert "the outputs differ" in texts
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2


LEARNING = NOTEBOOK.parent / "learning.ipynb"


def test_learning_notebook_is_committed_without_outputs():
    notebook = nbformat.read(LEARNING, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_learning_notebook_executes(tmp_path, monkeypatch):
    """It trains, draws, and takes one weight update apart; the by-hand numbers equal the library's."""
    import re

    notebook = nbformat.read(LEARNING, as_version=4)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    texts = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    accuracy = float(re.search(r"test accuracy: (0\.\d+)", texts).group(1))
    assert accuracy > 0.8  # 6 epochs; the command's longer default run is what reaches 0.97
    assert "2048 products" in texts  # 32 images x 8x8 output positions
    assert float(re.search(r"relative difference: (\S+)", texts).group(1)) < 1e-5
    by_hand, by_adam = re.search(r"-> (\S+) by hand, (\S+) by Adam.step\(\)", texts).groups()
    assert by_hand == by_adam
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3
