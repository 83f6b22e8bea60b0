"""Training callbacks: an epoch checkpoint that never saves a diverged model, and a NaN stop."""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from dpfe_tf import io_utils

CHECKPOINT_MODEL = "model.keras"
CHECKPOINT_STATE = "state.json"


class TrainingDiverged(RuntimeError):
  pass


class StopOnNaN(keras.callbacks.Callback):
  """Stops training at the first batch whose loss is NaN or infinite, and remembers where."""

  def __init__(self):
    super().__init__()
    self.where = None
    self._epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not math.isfinite(float(loss)):
      self.where = (self._epoch + 1, batch + 1)
      self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
  """Saves the whole training model (weights + optimizer) and the history after every epoch.

  Writes are atomic, and an epoch whose loss or weights are not finite is not saved, so
  the checkpoint on disk is always the last good one.
  """

  def __init__(self, directory, nan_guard: StopOnNaN | None = None, history=None):
    super().__init__()
    self.directory = directory
    self.nan_guard = nan_guard
    self.history = {k: list(v) for k, v in (history or {}).items()}

  @staticmethod
  def load_state(directory):
    path = os.path.join(directory, CHECKPOINT_STATE)
    model = os.path.join(directory, CHECKPOINT_MODEL)
    if os.path.isfile(path) and os.path.isfile(model):
      return io_utils.read_json(path), model
    return None, None

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    if self.nan_guard is not None and self.nan_guard.where is not None:
      return
    if not all(math.isfinite(float(v)) for v in logs.values()):
      return
    if not all(np.isfinite(w).all() for w in self.model.get_weights()):
      return
    for k, v in logs.items():
      self.history.setdefault(k, []).append(float(v))
    os.makedirs(self.directory, exist_ok=True)
    io_utils.save_model(self.model, os.path.join(self.directory, CHECKPOINT_MODEL))
    io_utils.write_json(os.path.join(self.directory, CHECKPOINT_STATE),
                        {"epochs_done": epoch + 1, "history": self.history})
