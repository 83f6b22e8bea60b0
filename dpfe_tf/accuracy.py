"""Primary (attribute) accuracy of logits against labels, and the majority-class reference."""

from __future__ import annotations

import numpy as np


def attribute_accuracy(logits, labels, names) -> dict:
  """Per-attribute accuracy of ``logits > 0`` against {0,1} ``labels``, their mean, and chance.

  "chance" is the majority-class rate of each attribute on these labels: what a
  constant guess scores, the floor a useful classifier must clear.
  """
  logits = np.asarray(logits)
  labels = np.asarray(labels)
  if logits.shape != labels.shape or logits.ndim != 2 or logits.shape[1] != len(names):
    raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not match {len(names)} attributes")
  acc = ((logits > 0) == (labels > 0.5)).mean(axis=0)
  pos = (labels > 0.5).mean(axis=0)
  chance = np.maximum(pos, 1 - pos)
  return {
      "attributes": list(names),
      "accuracy": {n: float(a) for n, a in zip(names, acc)},
      "chance": {n: float(c) for n, c in zip(names, chance)},
      "mean_accuracy": float(acc.mean()),
      "mean_chance": float(chance.mean()),
      "num_images": int(len(labels)),
  }
