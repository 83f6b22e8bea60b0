"""``tf.data`` pipelines over decoded face arrays: shuffled attribute batches and P x K pair batches.

Batches gather from the (memory-mapped) uint8 arrays in one ``numpy_function`` call per
batch, then cast, augment (horizontal flip: attributes and identity are mirror-invariant)
and prefetch. Images come out as float32 in 0..255; the models scale them.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dpfe_tf.data.celeba import FaceData
from dpfe_tf.data.sampling import IdentitySampler


def _gather_fn(data: FaceData, attr_idx):
  attrs = np.ascontiguousarray(data.attributes[:, list(attr_idx)]).astype(np.float32)
  ids = data.identities.astype(np.int32)
  h, w = data.image_size
  n_attr = len(attr_idx)

  def gather(idx):
    if isinstance(data.images, np.memmap):  # read the file in order, hand the batch back in idx's order
      order = np.argsort(idx, kind="stable")
      images = np.empty((len(idx),) + data.images.shape[1:], data.images.dtype)
      images[order] = data.images[idx[order]]
    else:
      images = data.images[idx]
    return images, attrs[idx], ids[idx]

  def fn(idx):
    img, y, ident = tf.numpy_function(gather, [idx], [tf.uint8, tf.float32, tf.int32], stateful=False)
    img = tf.ensure_shape(img, (None, h, w, 3))
    return tf.cast(img, tf.float32), tf.ensure_shape(y, (None, n_attr)), tf.ensure_shape(ident, (None,))
  return fn


def _finish(ds, data, attr_idx, augment, with_identity, seed):
  ds = ds.map(_gather_fn(data, attr_idx), num_parallel_calls=tf.data.AUTOTUNE)
  if augment:
    ds = ds.map(lambda x, y, i: (tf.image.random_flip_left_right(x, seed=seed), y, i),
                num_parallel_calls=tf.data.AUTOTUNE)
  if with_identity:
    ds = ds.map(lambda x, y, i: ({"image": x, "identity": i}, y))
  else:
    ds = ds.map(lambda x, y, i: (x, y))
  return ds.prefetch(tf.data.AUTOTUNE)


def attribute_batches(data: FaceData, attr_idx, batch_size: int, training: bool = False,
                      seed: int = 0, augment: bool | None = None, with_identity: bool = False):
  """(image, attribute labels in {0,1}) batches; reshuffled every epoch when training."""
  n = len(data)
  ds = tf.data.Dataset.range(n)
  if training:
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size, drop_remainder=training and n >= batch_size)
  return _finish(ds, data, attr_idx, training if augment is None else augment, with_identity, seed)


def pair_batches(data: FaceData, attr_idx, sampler: IdentitySampler, augment: bool = True,
                 seed: int = 0):
  """Endless ({image, identity}, labels) batches of P identities x K images (use steps_per_epoch).

  Batch i is ``sampler.batch_at(i)``: the stream depends only on the seed, so every worker of a
  distributed run builds the same global batches and keeps its replicas' slices of them.
  """
  def draw(step):
    return sampler.batch_at(int(step)).astype(np.int64)
  ds = tf.data.Dataset.range(np.iinfo(np.int64).max).map(
      lambda i: tf.ensure_shape(tf.numpy_function(draw, [i], tf.int64, stateful=False),
                                (sampler.batch_size,)))
  return _finish(ds, data, attr_idx, augment, True, seed)


def image_batches(images, batch_size: int = 256):
  """Float image batches in order, for feature extraction and prediction."""
  ds = tf.data.Dataset.range(len(images)).batch(batch_size)
  def gather(idx):
    return np.asarray(images[np.asarray(idx)])
  h, w = images.shape[1:3]
  ds = ds.map(lambda i: tf.cast(tf.ensure_shape(
      tf.numpy_function(gather, [i], tf.uint8, stateful=False), (None, h, w, 3)), tf.float32))
  return ds.prefetch(tf.data.AUTOTUNE)
