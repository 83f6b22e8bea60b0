"""Identity-aware batches for the y-remover: P identities x K images each.

Random CelebA pairs are almost never the same person, and the y-remover needs both kinds
of pair. In a batch of B = P x K images the fraction of same-identity pairs among all
B(B-1)/2 pairs is exactly (K - 1) / (B - 1), so K follows from the fraction asked for.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np


def same_pair_fraction(batch_size: int, images_per_identity: int) -> float:
  return (images_per_identity - 1) / (batch_size - 1)


def images_per_identity_for(batch_size: int, fraction: float) -> int:
  """The K (dividing the batch size) whose same-identity pair fraction is closest to ``fraction``."""
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"same-identity pair fraction must be in (0, 1), got {fraction}")
  ks = [k for k in range(2, batch_size + 1) if batch_size % k == 0]
  if not ks:
    raise ValueError(f"batch size {batch_size} has no divisor >= 2")
  return min(ks, key=lambda k: abs(same_pair_fraction(batch_size, k) - fraction))


@dataclasses.dataclass
class IdentitySampler:
  """Draws index batches of ``identities_per_batch`` x ``images_per_identity``.

  With ``groups`` > 1 (one group per replica of a distributed run), the batch is ``groups``
  consecutive slices of whole identities, and the same-identity pair fraction is the one
  within a slice. Identities with fewer than K images cannot fill their share of a batch: with
  ``small_identities="error"`` they are an error naming them, with ``"drop"`` (default) they
  are left out and counted in ``dropped``.
  """
  identities: np.ndarray
  batch_size: int
  images_per_identity: int
  seed: int = 0
  small_identities: str = "drop"
  groups: int = 1

  def __post_init__(self):
    k = self.images_per_identity
    if k < 2 or self.batch_size % k:
      raise ValueError(f"images per identity ({k}) must be >= 2 and divide the batch size ({self.batch_size})")
    if self.groups < 1 or self.batch_size % (self.groups * k):
      raise ValueError(f"a batch of {self.batch_size} cannot be split into {self.groups} slices of whole "
                       f"identities with {k} images each: the batch size must be a multiple of {self.groups * k}")
    ids, inverse, counts = np.unique(np.asarray(self.identities), return_inverse=True, return_counts=True)
    small = ids[counts < k]
    self.dropped = {int(i): int(c) for i, c in zip(small, counts[counts < k])}
    if len(small) and self.small_identities == "error":
      raise ValueError(
          f"{len(small)} identities have fewer than {k} images, e.g. "
          + ", ".join(f"{i} ({c})" for i, c in list(self.dropped.items())[:5])
          + "; lower the images per identity or drop them")
    if len(small):
      logging.warning("identity sampler: %d identities (%d images) have fewer than %d images and are "
                      "left out of the pair batches", len(small), sum(self.dropped.values()), k)
    self.identity_groups = [np.flatnonzero(inverse == j) for j in np.flatnonzero(counts >= k)]
    self.P = self.batch_size // k
    if len(self.identity_groups) < self.P:
      raise ValueError(f"only {len(self.identity_groups)} identities have at least {k} images; a batch "
                       f"of {self.batch_size} needs {self.P}")

  @property
  def num_images(self):
    return sum(len(g) for g in self.identity_groups)

  @property
  def same_pair_fraction(self):
    return same_pair_fraction(self.batch_size // self.groups, self.images_per_identity)

  def batch_at(self, step: int) -> np.ndarray:
    """Batch number ``step`` of a stream that depends only on the seed (same on every worker)."""
    rng = np.random.default_rng([self.seed, int(step)])
    who = rng.choice(len(self.identity_groups), self.P, replace=False)
    return np.concatenate([rng.choice(self.identity_groups[g], self.images_per_identity, replace=False)
                           for g in who])
