"""The Colab notebooks run end to end (nbclient) on a tiny setting, so a broken notebook fails CI.

Each notebook reads DPFE_TF_NB_SMOKE / DPFE_TF_NB_DATA / DPFE_TF_NB_OUTPUT; on Colab they are
unset and the notebook runs its real setting.
"""

import json
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

COLAB = os.path.join(ROOT, "colab")
NOTEBOOKS = ("quickstart.ipynb", "celeba.ipynb", "mobile.ipynb")


def execute(name, data_dir, out_dir, cwd, monkeypatch):
  monkeypatch.setenv("DPFE_TF_NB_SMOKE", "1")
  monkeypatch.setenv("DPFE_TF_NB_DATA", data_dir)
  monkeypatch.setenv("DPFE_TF_NB_OUTPUT", out_dir)
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  book = nbformat.read(os.path.join(COLAB, name), as_version=4)
  NotebookClient(book, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
  return book


def text_of(book):
  out = []
  for cell in book.cells:
    for o in cell.get("outputs", []):
      out.append(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")))
      out.append(o.get("data", {}).get("text/markdown", ""))
  return "\n".join(out)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_clean_and_calls_the_package(name):
  book = nbformat.read(os.path.join(COLAB, name), as_version=4)
  nbformat.validate(book)
  assert f"colab.research.google.com/github/dpfe-tf/dpfe_tf/blob/main/colab/{name}" in book.cells[0].source
  code = [c.source for c in book.cells if c.cell_type == "code"]
  assert all(not c.get("outputs") and c.get("execution_count") is None
             for c in book.cells if c.cell_type == "code"), "commit notebooks without outputs"
  assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in c.splitlines()), \
      "library code belongs in dpfe_tf, not in notebook cells"
  assert sum("from dpfe_tf" in c for c in code) >= 2


# The mobile notebook follows the quickstart (its OUTPUT_DIR defaults to the quickstart's run, "trained
# here if missing"): the test runs it on the quickstart's folder, so both are on one worker.
after_quickstart = pytest.mark.xdist_group("test_notebooks.quickstart")


@pytest.fixture(scope="module")
def quickstart(tiny_faces, tmp_path_factory):
  """The quickstart notebook, executed once: (the executed book, its run folder)."""
  tmp = tmp_path_factory.mktemp("quickstart")
  out = str(tmp / "run")
  with pytest.MonkeyPatch.context() as mp:
    book = execute("quickstart.ipynb", tiny_faces, out, tmp, mp)
  return book, out


@after_quickstart
def test_quickstart(quickstart):
  book, out = quickstart
  text = text_of(book)
  assert re.search(r"^dpfe +G ", text, re.M) and "log rank privacy:" in text and "worst attacker" in text
  assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
             for c in book.cells for o in c.get("outputs", []))
  assert os.path.isfile(os.path.join(out, "conv7-G", "evaluation", "evaluation.json"))
  assert os.path.isfile(os.path.join(out, "conv7-G", "dpfe", "tflite", "extractor_conv7_int8.tflite"))
  assert "int8 input (1, 32, 26, 3)" in text


def test_celeba(tiny_faces, tmp_path, monkeypatch):
  out = str(tmp_path / "celeba")
  book = execute("celeba.ipynb", tiny_faces, out, tmp_path, monkeypatch)
  text = text_of(book)
  with open(os.path.join(out, "conv7-G", "evaluation", "evaluation.json")) as f:
    ev = json.load(f)
  assert ev["rotated"] and [c["name"] for c in ev["curves"]] == ["simple", "dpfe"]
  assert "| conv7-G | dpfe |" in text and "log rank privacy:" in text and "| conv7-G (evaluation) | dpfe |" in text


@after_quickstart
def test_mobile(quickstart, tiny_faces, tmp_path, monkeypatch):
  out = quickstart[1]
  book = execute("mobile.ipynb", tiny_faces, out, tmp_path, monkeypatch)
  text = text_of(book)
  assert "== dpfe: already trained in" in text and "== original: MOON" not in text  # reused, not retrained
  for form in ("float32", "int8"):  # the smoke setting's forms (every form is exported in tests/test_mobile.py)
    assert f"extractor_conv7_{form}" in text and f"trunk_conv4_2_{form}" in text
  assert "extractor_conv7_float16" not in text
  assert "time vs conv4_2" in text
  assert "extractor_conv7_int8" in text and "56.27" in text  # the parsed example phone output
