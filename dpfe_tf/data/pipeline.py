"""``tf.data`` pipelines over decoded face arrays: training streams, evaluation batches, image batches.

Training streams are endless and **batch i is a pure function of (seed, i)**: the shuffled
attribute batches (epoch e = a permutation drawn from (seed, e)) and the P x K identity batches
of the defences (``IdentitySampler.batch_at``). Opening the stream again gives the same batches,
so every replica and worker of a distributed run sees the same global batches, and a resumed
stage continues from the step where it stopped (``start_step``).

Batches gather from the (memory-mapped) uint8 arrays in one ``numpy_function`` call per batch,
then cast, flip (attributes and identity are mirror-invariant; the flip is seeded by the step)
and prefetch. Images come out as float32 in 0..255; the models scale them. Identities come out
as dense indices 0..n-1 of the partition's identities (what an identity classifier needs).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dpfe_tf.data.celeba import FaceData
from dpfe_tf.data.sampling import IdentitySampler

_ENDLESS = np.iinfo(np.int64).max


def dense_identities(identities) -> np.ndarray:
  """Identity labels as indices 0..n-1 (order of the sorted identity values)."""
  return np.unique(np.asarray(identities), return_inverse=True)[1].astype(np.int32)


def _gather(data: FaceData, attr_idx):
  attrs = np.ascontiguousarray(data.attributes[:, list(attr_idx)]).astype(np.float32)
  ids = dense_identities(data.identities)

  def gather(idx):
    if isinstance(data.images, np.memmap):  # read the file in order, hand the batch back in idx's order
      order = np.argsort(idx, kind="stable")
      images = np.empty((len(idx),) + data.images.shape[1:], data.images.dtype)
      images[order] = data.images[idx[order]]
    else:
      images = data.images[idx]
    return images, attrs[idx], ids[idx]
  return gather


def _stream(data, attr_idx, indices_at, *, batch_size, augment, with_identity, seed, start_step):
  """Endless batches: step s takes the images ``indices_at(s)``."""
  h, w = data.image_size
  gather = _gather(data, attr_idx)
  n_attr = len(attr_idx)

  def load(step):
    idx = tf.numpy_function(lambda s: indices_at(int(s)).astype(np.int64), [step], tf.int64, stateful=False)
    img, y, ident = tf.numpy_function(gather, [idx], [tf.uint8, tf.float32, tf.int32], stateful=False)
    img = tf.cast(tf.ensure_shape(img, (batch_size, h, w, 3)), tf.float32)
    if augment:
      img = tf.image.stateless_random_flip_left_right(img, tf.stack([tf.cast(seed, tf.int64), step]))
    y = tf.ensure_shape(y, (batch_size, n_attr))
    ident = tf.ensure_shape(ident, (batch_size,))
    return ({"image": img, "identity": ident}, y) if with_identity else (img, y)

  ds = tf.data.Dataset.range(start_step, _ENDLESS)
  return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def steps_per_pass(n: int, batch_size: int) -> int:
  return max(1, n // batch_size)


def shuffled_batches(data: FaceData, attr_idx, batch_size: int, *, seed: int = 0, augment: bool = True,
                     with_identity: bool = False, start_step: int = 0):
  """Endless (image, attribute labels in {0,1}) training batches: one pass over the data per
  ``steps_per_pass`` steps, each pass in the order of a permutation drawn from (seed, pass)."""
  n = len(data)
  if n < batch_size:
    raise ValueError(f"a batch of {batch_size} needs at least that many training images, there are {n}")
  per_pass = steps_per_pass(n, batch_size)

  def indices_at(step):
    p, i = divmod(step, per_pass)
    order = np.random.default_rng([seed, p]).permutation(n)
    return order[i * batch_size:(i + 1) * batch_size]
  return _stream(data, attr_idx, indices_at, batch_size=batch_size, augment=augment, with_identity=with_identity,
                 seed=seed, start_step=start_step)


def pair_batches(data: FaceData, attr_idx, sampler: IdentitySampler, *, augment: bool = True,
                 seed: int = 0, start_step: int = 0):
  """Endless ({image, identity}, labels) batches of P identities x K images (``sampler.batch_at``)."""
  return _stream(data, attr_idx, sampler.batch_at, batch_size=sampler.batch_size, augment=augment,
                 with_identity=True, seed=seed, start_step=start_step)


def attribute_batches(data: FaceData, attr_idx, batch_size: int = 256, with_identity: bool = False):
  """One ordered pass of (image, labels) batches, for validation."""
  gather = _gather(data, attr_idx)
  h, w = data.image_size
  n_attr = len(attr_idx)

  def load(idx):
    img, y, ident = tf.numpy_function(gather, [idx], [tf.uint8, tf.float32, tf.int32], stateful=False)
    img = tf.cast(tf.ensure_shape(img, (None, h, w, 3)), tf.float32)
    y = tf.ensure_shape(y, (None, n_attr))
    ident = tf.ensure_shape(ident, (None,))
    return ({"image": img, "identity": ident}, y) if with_identity else (img, y)
  ds = tf.data.Dataset.range(len(data)).batch(batch_size)
  return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def image_batches(images, batch_size: int = 256):
  """Float image batches in order, for feature extraction and prediction."""
  ds = tf.data.Dataset.range(len(images)).batch(batch_size)

  def gather(idx):
    return np.asarray(images[np.asarray(idx)])
  h, w = images.shape[1:3]
  ds = ds.map(lambda i: tf.cast(tf.ensure_shape(
      tf.numpy_function(gather, [i], tf.uint8, stateful=False), (None, h, w, 3)), tf.float32))
  return ds.prefetch(tf.data.AUTOTUNE)
