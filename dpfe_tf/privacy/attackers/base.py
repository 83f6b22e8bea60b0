"""What an attacker sees and what it returns.

The threat model (README): the extractor is public; the adversary sees private features, holds
ordinary photos of the people it wants to find (here: the *gallery* images of the evaluated
identities), and trains attack models on public face data of *other* people pushed through the
public extractor (here: the training partition, identity-disjoint from the evaluated one).

``AttackData`` carries all of that for one model at one noise level. An **identifying** attacker
ranks the gallery's identities for every probe feature: ``scores(data, gallery, probe)`` returns
(classes, scores), higher = more likely, from which ``measures.identify`` computes the ranks,
log-rank privacy, top-1 and the rest. ``prepare(data, folds)`` runs once per noise level before
the folds (training on the public data, tuning on the first gallery, or every fold at once).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class AttackData:
  features: np.ndarray                     # the evaluated samples' (noisy) private features
  identities: np.ndarray
  seed: int = 0
  public_features: np.ndarray | None = None   # other people's images through the extractor, same noise
  public_identities: np.ndarray | None = None
  photos: np.ndarray | None = None            # face-recogniser embeddings of the evaluated samples' photos
  public_photos: np.ndarray | None = None     # ... of the public images
  public_images: np.ndarray | None = None     # the public images (uint8), for decoders
  noise: float = 0.0

  def has(self, need: str) -> bool:
    return getattr(self, need) is not None


class Attacker:
  """An identifying attacker: scores every gallery identity for every probe."""
  name = "attacker"
  summary = ""
  needs: tuple = ()                 # AttackData fields it needs besides features / identities

  def prepare(self, data: AttackData, folds) -> None:
    """Once per noise level, before the folds (``measures.AttackerSplit`` each): train on public
    data, tune on the first gallery, or fit every fold at once."""

  def scores(self, data: AttackData, gallery: np.ndarray, probe: np.ndarray):
    """(classes, scores (n_probe, K), notes) for the probe samples against the gallery samples."""
    raise NotImplementedError

  def runs_at(self, noise: float) -> bool:
    return True


def by_identity(distances, gallery_ids):
  """Per gallery identity, minus its nearest gallery sample's distance: (classes, scores)."""
  gy = np.asarray(gallery_ids)
  classes = np.unique(gy)
  return classes, np.stack([-distances[:, gy == c].min(1) for c in classes], axis=1)


def sq_distances(a, b):
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)
