"""The y-remover within the primary labels (``--defence=dpfe_conditional``): DPFE's pair loss with
the pull restricted to people who share the attribute labels.

The paper's y-remover pulls *every* pair of different identities together, a man towards a woman
as much as towards another man. For a pair whose primary labels differ that pull works against the
attribute loss (the feature must keep the two apart to predict the attribute), so its weight is
held low by the accuracy it costs. What the cloud needs is the label; what an attacker reads is
the spread of different people *within* a label. Here a pair counts only if its two images share
every primary label, or are of one person:

    L = mean over counted pairs [ d_ij^2                  different identities, same labels (pull)
                                  max(margin - d_ij, 0)^2  same identity (push apart) ]

so a strong weight collapses each label's people towards one another without pulling the labels
together: the feature is driven towards the labels-only reference (``privacy/label_ceiling.py``).
Not in the paper: a variant of its loss, measured against it in docs/results.md.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.defences import y_remover


def same_labels_or_identity(identities, labels):
  """(n, n) bool: the two images share every primary label, or are of one person."""
  if labels is None:
    raise ValueError("the conditional y-remover needs the batch's primary labels (labels=...)")
  b = tf.reshape(tf.cast(labels, tf.float32), [tf.shape(labels)[0], -1]) > 0.5
  same_labels = tf.reduce_all(tf.equal(b[:, None, :], b[None, :, :]), axis=-1)
  y = tf.reshape(identities, [-1])
  return tf.logical_or(same_labels, tf.equal(y[:, None], y[None, :]))


@keras.saving.register_keras_serializable(package="dpfe_tf")
class ConditionalYRemover(y_remover.YRemover):
  """beta x the y-remover's pair loss over the pairs that share the labels or the person."""

  def pair_keep(self, identities, labels):
    return same_labels_or_identity(identities, labels)


def make(beta, margin, num_identities=None, groups=1, feature_dim=None):
  return ConditionalYRemover(margin=margin, beta=beta, groups=groups, name="y_remover")
