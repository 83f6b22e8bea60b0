"""Helpers shared by the test modules: running a command as a user would."""

import os
import subprocess
import sys


def run_module(module, args, cache_dir, check=True):
  """``python -m dpfe_tf.<module> args`` with its own decoded-image cache; fails the test on error."""
  env = {**os.environ, "DPFE_TF_CACHE": cache_dir, "TF_CPP_MIN_LOG_LEVEL": "2"}
  proc = subprocess.run([sys.executable, "-m", f"dpfe_tf.{module}", *args], capture_output=True,
                        text=True, env=env, timeout=900)
  if check and proc.returncode != 0:
    raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
  return proc


def run_train(args, cache_dir, check=True):
  return run_module("train", args, cache_dir, check)
