"""Training callbacks: an epoch checkpoint that is written whole or not at all, a NaN stop, and the
time left in a run of several stages.

A checkpoint is a folder ``checkpoint/epoch-NNNN/`` holding the whole training model (weights and
optimizer, ``model.keras``) and ``state.json`` (epochs done, history), written into a temporary
folder and renamed into place, so a kill at any moment leaves the previous epoch's pair intact.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time

import keras
import numpy as np

from dpfe_tf import io_utils

CHECKPOINT_MODEL = "model.keras"
CHECKPOINT_STATE = "state.json"
_EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


class TrainingDiverged(RuntimeError):
  pass


def finite_logs(logs) -> dict:
  """Logged values as floats (Keras may hand back 0-d or 1-element arrays)."""
  return {k: float(np.mean(v)) for k, v in (logs or {}).items()}


class StopOnNaN(keras.callbacks.Callback):
  """Stops training at the first batch whose loss is NaN or infinite, and remembers where."""

  def __init__(self):
    super().__init__()
    self.where = None
    self._epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = finite_logs(logs).get("loss")
    if loss is not None and not math.isfinite(loss):
      self.where = (self._epoch + 1, batch + 1)
      self.model.stop_training = True


def latest(directory):
  """(state dict, model path) of the newest complete checkpoint in ``directory``, or (None, None)."""
  if not os.path.isdir(directory):
    return None, None
  epochs = sorted((int(m.group(1)), d) for d in os.listdir(directory) if (m := _EPOCH_DIR.match(d)))
  if not epochs:
    return None, None
  last = os.path.join(directory, epochs[-1][1])
  state = io_utils.read_json(os.path.join(last, CHECKPOINT_STATE))
  if not isinstance(state.get("epochs_done"), int) or not isinstance(state.get("history"), dict):
    raise io_utils.FileFormatError(f"{os.path.join(last, CHECKPOINT_STATE)}: not a checkpoint state; "
                                   f"delete {directory} to start the stage over")
  return state, os.path.join(last, CHECKPOINT_MODEL)


class EpochCheckpoint(keras.callbacks.Callback):
  """After every epoch: the training model and the history, as one atomic folder.

  An epoch whose loss or weights are not finite is not saved, so the checkpoint on disk is
  always the last good one. Older epochs are removed once the new one is in place.
  """

  def __init__(self, directory, nan_guard: StopOnNaN | None = None, history=None):
    super().__init__()
    self.directory = directory
    self.nan_guard = nan_guard
    self.history = {k: list(v) for k, v in (history or {}).items()}

  def on_epoch_end(self, epoch, logs=None):
    logs = finite_logs(logs)
    if self.nan_guard is not None and self.nan_guard.where is not None:
      return
    if not all(math.isfinite(v) for v in logs.values()):
      return
    if not all(np.isfinite(w).all() for w in self.model.get_weights()):
      return
    for k, v in logs.items():
      self.history.setdefault(k, []).append(v)
    target = os.path.join(self.directory, f"epoch-{epoch + 1:04d}")
    if os.path.isdir(target):
      shutil.rmtree(target)
    with io_utils.atomic_dir(target) as tmp:
      self.model.save(os.path.join(tmp, CHECKPOINT_MODEL))
      io_utils.write_json(os.path.join(tmp, CHECKPOINT_STATE), {"epochs_done": epoch + 1, "history": self.history})
    for d in os.listdir(self.directory):
      m = _EPOCH_DIR.match(d)
      if m and int(m.group(1)) < epoch + 1:
        shutil.rmtree(os.path.join(self.directory, d), ignore_errors=True)


class JobClock:
  """The epochs a run has left, stage by stage, and the time its epochs have taken so far: the
  estimate of the time left, on the assumption that an epoch of any stage costs about the same
  (one pass over the training images through the same network).

  ``epochs``: {stage: epochs to train}, in order. ``now``: the clock (a test passes its own).
  """

  def __init__(self, epochs: dict, now=time.monotonic):
    self.left = dict(epochs)
    self.now = now
    self.seconds = 0.0
    self.done = 0

  def resume(self, stage: str, epochs_done: int):
    """A stage resumed from its checkpoint has that many epochs fewer to train."""
    self.left[stage] = max(0, self.left.get(stage, 0) - epochs_done)

  def epoch_done(self, stage: str, seconds: float):
    self.left[stage] = max(0, self.left.get(stage, 0) - 1)
    self.seconds += seconds
    self.done += 1

  def estimate(self, stage: str) -> tuple[float, float]:
    """(seconds left in ``stage``, seconds left in every stage), from the mean epoch so far."""
    per_epoch = self.seconds / self.done if self.done else 0.0
    return per_epoch * self.left.get(stage, 0), per_epoch * sum(self.left.values())

  def line(self, stage: str, epoch: int, epochs: int) -> str:
    here, total = self.estimate(stage)
    text = f"  {stage}: epoch {epoch}/{epochs} done, about {io_utils.duration(here)} left in this stage"
    later = [s for s, n in self.left.items() if n and s != stage]
    if later:
      text += f"; about {io_utils.duration(total)} left in training, {', '.join(later)} still to train"
    return text


class TimeLeft(keras.callbacks.Callback):
  """After every epoch, a line: the time left in this stage and in the run's training (a JobClock)."""

  def __init__(self, clock: JobClock, stage: str, epochs: int):
    super().__init__()
    self.clock, self.stage, self.epochs = clock, stage, epochs
    self._start = None

  def on_epoch_begin(self, epoch, logs=None):
    self._start = self.clock.now()

  def on_epoch_end(self, epoch, logs=None):
    self.clock.epoch_done(self.stage, self.clock.now() - self._start)
    print(self.clock.line(self.stage, epoch + 1, self.epochs), flush=True)
