"""What the cloud's predictor reads of the private feature: the directions its logits are most
sensitive to, the top eigenvectors of E[J^T J] (J the Jacobian of the logits at the feature).

One computation for three users: the test-time shaped noise (``privacy/noise.predictor_directions``,
over the training people's features, batch by batch), the score y-remover and the shaped
training noise (``read_directions``, in the training step, on the batch).
"""

from __future__ import annotations

import tensorflow as tf


def gradient_moment(predictor, features, training=False):
  """(logits, sum over the batch of J^T J (dim, dim), number of logits) at ``features``."""
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(features)
    logits = predictor(features, training=training)
    flat = tf.reshape(logits, [tf.shape(features)[0], -1])
    sums = [tf.reduce_sum(flat[:, a]) for a in range(flat.shape[-1])]
  # Each image's logits depend on its own feature (up to batch statistics in training), so the
  # gradient of a logit's batch sum holds every image's Jacobian row (no per-example loop).
  rows = [tf.cast(tape.gradient(s, features), tf.float32) for s in sums]
  del tape
  return logits, tf.add_n([tf.matmul(r, r, transpose_a=True) for r in rows]), len(rows)


def read_directions(predictor, features, training=False):
  """(logits, U): the predictor's logits at ``features`` and the top-k eigenvectors (dim, k; k the
  number of logits) of the batch's gradient moment, without gradient."""
  logits, moment, k = gradient_moment(predictor, features, training=training)
  _, vectors = tf.linalg.eigh(moment)          # ascending eigenvalues
  return logits, tf.stop_gradient(vectors[:, -k:])
