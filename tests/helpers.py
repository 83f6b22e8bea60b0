"""Helpers shared by the test modules: running a command as a user would."""

import os
import subprocess
import sys


def run_module(module, args, cache_dir, check=True, without_tensorflow=False, cwd=None):
  """``python -m dpfe_tf.<module> args`` with its own decoded-image cache; fails the test on error.
  ``without_tensorflow``: with TensorFlow and Keras impossible to import, so a command that needs
  them fails (what bad input and the report must not need). ``cwd``: the working folder (where the
  default run folder, runs/demo, is)."""
  env = {**os.environ, "DPFE_TF_CACHE": cache_dir, "TF_CPP_MIN_LOG_LEVEL": "2"}
  command = ["-m", f"dpfe_tf.{module}", *args]
  if without_tensorflow:
    command = ["-c", "import runpy, sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; "
               f"sys.argv = {['dpfe_tf.' + module, *args]!r}; runpy.run_module('dpfe_tf.{module}', run_name='__main__')"]
  proc = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, timeout=900, cwd=cwd)
  if check and proc.returncode != 0:
    raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
  return proc


def run_train(args, cache_dir, check=True):
  return run_module("train", args, cache_dir, check)
