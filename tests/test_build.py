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
  # A command is a module of dpfe_tf with an absl main.
  commands = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "dpfe_tf", "*.py"))
              if "app.run(main)" in open(p).read()}
  assert commands >= {"train", "evaluate", "export", "verify"}
  assert commands == _commands_in_build()


def test_library_and_tests_globs_cover_every_file():
  build = _build()
  assert 'glob(["dpfe_tf/**/*.py"])' in build
  assert 'glob(["tests/test_*.py"])' in build
  tests = glob.glob(os.path.join(ROOT, "tests", "*.py"))
  helpers = {"conftest.py", "pytest_runner.py"}
  # Every test module matches the py_test glob; anything else in tests/ is a listed helper.
  assert all(os.path.basename(t).startswith("test_") or os.path.basename(t) in helpers for t in tests)
  for helper in helpers:
    assert f'"tests/{helper}"' in build
  # Every package module sits under dpfe_tf/ (covered by the library's recursive glob).
  stray = [p for p in glob.glob(os.path.join(ROOT, "*.py")) if os.path.basename(p) != "setup.py"]
  assert not stray
