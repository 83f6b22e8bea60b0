"""Every file the tool writes goes through here: atomic, readable as the umask allows, locked per run.

- ``atomic_path``: a temporary file beside the target, renamed over it only on success, with
  the permissions a plain ``open`` would give (``mkstemp`` alone makes 0600 files).
- ``atomic_dir``: the same for a folder (a checkpoint: model and state appear together or not at all).
- ``RunLock``: one process at a time in an output folder; a second says which process holds it.
- JSON that refuses NaN/inf, JSON reads that name the file on an error, progress bars, and
  ``quiet_fds`` for C++ libraries that print to the terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np


def _umask() -> int:
  old = os.umask(0o022)
  os.umask(old)
  return old


#: The process umask, read once (os.umask can only be read by setting it).
UMASK = _umask()
FILE_MODE = 0o666 & ~UMASK
DIR_MODE = 0o777 & ~UMASK


class FileFormatError(ValueError):
  """A file the tool reads back (JSON, a model) is not what it should be; the message names it."""


@contextlib.contextmanager
def atomic_path(path, suffix=""):
  """Yields a temporary path beside ``path``; renames it over ``path`` only on success."""
  tmp = temp_file_beside(path, suffix or os.path.splitext(path)[1])
  try:
    yield tmp
    if os.path.exists(tmp):
      os.chmod(tmp, FILE_MODE)  # a writer may have replaced the file
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def temp_file_beside(path, suffix="") -> str:
  """A new empty file next to ``path`` (same file system, so it can be renamed over it)."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=suffix)
  os.close(fd)
  os.chmod(tmp, FILE_MODE)
  return tmp


@contextlib.contextmanager
def atomic_dir(path):
  """Yields a temporary folder beside ``path``; on success it becomes ``path`` (which must not exist)."""
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
  os.chmod(tmp, DIR_MODE)
  try:
    yield tmp
    os.rename(tmp, path)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(o):
  if isinstance(o, (np.integer,)):
    return int(o)
  if isinstance(o, (np.floating,)):
    f = float(o)
    return f if math.isfinite(f) else None
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, (set, frozenset)):
    return sorted(o)
  raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(obj):
  """NaN and inf become null (JSON has no such numbers); everything else unchanged."""
  if isinstance(obj, float):
    return obj if math.isfinite(obj) else None
  if isinstance(obj, dict):
    return {k: _finite(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_finite(v) for v in obj]
  return obj


def json_text(obj) -> str:
  return json.dumps(_finite(obj), indent=2, default=_jsonable, allow_nan=False) + "\n"


def file_sha256(path) -> str:
  """The sha256 of a file's content (hex)."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def write_json(path, obj):
  with atomic_path(path, ".json") as tmp:
    with open(tmp, "w") as f:
      f.write(json_text(obj))


def read_json(path, expect=dict):
  """The JSON object in ``path``; a missing, unreadable or malformed file is a one-line error naming it."""
  try:
    with open(path) as f:
      value = json.load(f)
  except FileNotFoundError:
    raise FileNotFoundError(f"{path}: no such file") from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise FileFormatError(f"{path}: not valid JSON ({e}); delete or restore it") from None
  if expect is not None and not isinstance(value, expect):
    raise FileFormatError(f"{path}: expected a JSON {expect.__name__}, found a {type(value).__name__}")
  return value


def write_text(path, text):
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write(text)


def write_bytes(path, data: bytes):
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(data)


def atomic_save_npy(path, array):
  with atomic_path(path, ".npy") as tmp:
    np.save(tmp, array)


def save_model(model, path):
  """``model.save`` to a temporary ``.keras`` file, then an atomic rename."""
  with atomic_path(path, ".keras") as tmp:
    model.save(tmp)


class RunLock:
  """An exclusive lock on an output folder for this process (re-entrant within the process).

  A second process asking for the same folder gets a one-line error naming the holder.
  """
  _held: dict = {}

  def __init__(self, directory):
    self.directory = os.path.abspath(directory)
    self.path = os.path.join(self.directory, ".lock")
    self._fd = None

  def __enter__(self):
    if self.directory in RunLock._held:
      RunLock._held[self.directory][1] += 1
      return self
    os.makedirs(self.directory, exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
      os.close(fd)
      raise RuntimeError(f"{self.directory} is in use by another dpfe_tf run ({holder}); wait for it "
                         "to finish or use another --output_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}".encode())
    RunLock._held[self.directory] = [fd, 1]
    return self

  def __exit__(self, *exc):
    entry = RunLock._held[self.directory]
    entry[1] -= 1
    if entry[1] == 0:
      fcntl.flock(entry[0], fcntl.LOCK_UN)
      os.close(entry[0])
      del RunLock._held[self.directory]


class _Bar:
  """A progress bar on a terminal; elsewhere (logs, CI, notebooks) a line at most every 15 s and at
  the end, with the time so far and an estimate of the time left."""

  def __init__(self, total, title):
    import time
    self.title, self.total, self.done = title, total, 0
    self.start = self.last = time.time()
    if title:
      print(title, file=sys.stderr, flush=True)
    self._bar = None
    if sys.stderr.isatty():
      import keras
      self._bar = keras.utils.Progbar(total, verbose=1, unit_name="item")

  def add(self, n):
    import time
    self.done += n
    if self._bar is not None:
      self._bar.add(n)
      return
    now = time.time()
    if now - self.last >= 15 or self.done >= self.total:
      self.last = now
      spent = now - self.start
      left = spent / self.done * (self.total - self.done) if self.done else 0.0
      print(f"  {self.done}/{self.total} done, {duration(spent)} so far"
            + (f", about {duration(left)} left" if self.done < self.total else ""), file=sys.stderr, flush=True)


def duration(seconds) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def progress(total, title=""):
  return _Bar(total, title)


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
