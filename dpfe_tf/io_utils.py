"""Atomic writes, JSON, progress bars: the only place that touches output files directly."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path, suffix=""):
  """Yields a temporary path beside ``path``; renames it over ``path`` only on success."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1])
  os.close(fd)
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _jsonable(o):
  if isinstance(o, (np.integer,)):
    return int(o)
  if isinstance(o, (np.floating,)):
    f = float(o)
    return f if math.isfinite(f) else None
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, float) and not math.isfinite(o):
    return None
  raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path, obj):
  with atomic_path(path, ".json") as tmp:
    with open(tmp, "w") as f:
      json.dump(obj, f, indent=2, default=_jsonable, allow_nan=False)
      f.write("\n")


def read_json(path):
  with open(path) as f:
    return json.load(f)


def write_text(path, text):
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write(text)


def atomic_save_npy(path, array):
  with atomic_path(path, ".npy") as tmp:
    np.save(tmp, array)


def save_model(model, path):
  """``model.save`` to a temporary ``.keras`` file, then an atomic rename."""
  with atomic_path(path, ".keras") as tmp:
    model.save(tmp)


class _Bar:
  def __init__(self, total, title):
    import keras
    self.title = title
    if title:
      print(title, file=sys.stderr, flush=True)
    self._bar = keras.utils.Progbar(total, verbose=1 if sys.stderr.isatty() else 2,
                                    unit_name="item")

  def add(self, n):
    self._bar.add(n)


@contextlib.contextmanager
def quiet_fds():
  """Silences what C++ and Python print to stdout/stderr inside the block (the TFLite
  converter prints its whole function signature); replays it if the block raises."""
  sys.stdout.flush()
  sys.stderr.flush()
  saved = [os.dup(1), os.dup(2)]
  with tempfile.TemporaryFile(mode="w+b") as log:
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
      yield
    except BaseException:
      sys.stdout.flush()
      os.dup2(saved[0], 1)
      os.dup2(saved[1], 2)
      log.seek(0)
      sys.stderr.write(log.read().decode(errors="replace")[-5000:])
      raise
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os.dup2(saved[0], 1)
      os.dup2(saved[1], 2)
      for fd in saved:
        os.close(fd)


def progress(total, title=""):
  return _Bar(total, title)
