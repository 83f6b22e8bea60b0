"""The Bazel BUILD file covers every module, command and test file (a static check: no Bazel here)."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build():
  with open(os.path.join(ROOT, "BUILD")) as f:
    return f.read()


def _commands_in_build():
  m = re.search(r"COMMANDS = \[(.*?)\]", _build(), re.S)
  assert m, "BUILD has no COMMANDS list"
  return set(re.findall(r'"(\w+)"', m.group(1)))


def test_every_command_has_a_py_binary():
  # A command is a top-level module of dpfe_tf with an absl main (run by dflags.run); workers run as
  # python -m in subprocesses.
  commands = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "dpfe_tf", "*.py"))
              if "dflags.run(main)" in open(p).read()}
  assert commands >= {"train", "evaluate", "compare", "export", "verify", "invert", "report"}
  assert commands == _commands_in_build()
  workers = {os.path.relpath(p, os.path.join(ROOT, "dpfe_tf"))[:-3] for p in glob.glob(
      os.path.join(ROOT, "dpfe_tf", "*", "*.py")) if 'if __name__ == "__main__"' in open(p).read()}
  listed = set(re.findall(r'"([\w/]+)"', re.search(r"WORKERS = \[(.*?)\]", _build(), re.S).group(1)))
  assert workers - {"mobile/parse_android"} == listed


def test_library_and_tests_globs_cover_every_file():
  build = _build()
  assert 'glob(["dpfe_tf/**/*.py"])' in build
  assert 'glob(["tests/test_*.py"])' in build
  tests = glob.glob(os.path.join(ROOT, "tests", "*.py"))
  helpers = {"conftest.py", "helpers.py", "pytest_runner.py"}
  # Every test module matches the py_test glob; anything else in tests/ is a listed helper.
  assert all(os.path.basename(t).startswith("test_") or os.path.basename(t) in helpers for t in tests)
  for helper in helpers:
    assert f'"tests/{helper}"' in build
  # Every package module sits under dpfe_tf/ (covered by the library's recursive glob).
  stray = [p for p in glob.glob(os.path.join(ROOT, "*.py")) if os.path.basename(p) != "setup.py"]
  assert not stray


def _requirements(block):
  return {re.split(r"[<>=!\[ ]", r)[0].lower() for r in re.findall(r'"([^"]+)"', block)}


def test_build_declares_setup_py_dependencies():
  with open(os.path.join(ROOT, "setup.py")) as f:
    setup = f.read()
  install = re.search(r"install_requires=\[(.*?)\]", setup, re.S).group(1)
  dev = re.search(r'"dev": \[(.*?)\]', setup, re.S).group(1)
  attacks = re.search(r"ATTACKS = \[(.*?)\]", setup, re.S).group(1)
  build = _build()

  def labels(name):
    return {d.lower() for d in re.findall(r'requirement\("([^"]+)"\)', re.search(name + r" = \[(.*?)\]", build,
                                                                                    re.S).group(1))}
  assert labels("PY_DEPS") == _requirements(install)
  assert labels("ATTACK_DEPS") == _requirements(attacks)
  assert labels("TEST_DEPS") == _requirements(dev)
  assert "*ATTACKS" in dev and "+ ATTACK_DEPS" in build


def test_benchmarks_and_notebooks_are_covered():
  build = _build()
  assert 'glob(["bench/*.py", "experiments/*.py"])' in build and 'glob(["colab/*.ipynb"])' in build
  assert glob.glob(os.path.join(ROOT, "bench", "*.py")) and glob.glob(os.path.join(ROOT, "colab", "*.ipynb"))
