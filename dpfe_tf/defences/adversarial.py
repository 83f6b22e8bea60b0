"""Adversarial censoring (``--defence=adversarial``): an identity classifier fights the extractor.

An adversary (a one-hidden-layer MLP) learns to tell the training identities apart from the
private feature; the extractor is trained to defeat it. As in Ganin & Lempitsky's domain-
adversarial training, one **gradient-reversal layer** between the feature and the adversary
does both in a single forward/backward pass: the forward value is the feature, the gradient
reaching the extractor is -beta times the adversary's. The adversary descends its cross-entropy;
the extractor ascends it (weighted by beta) while descending the attribute loss.

Why gradient reversal rather than alternating updates (DeepObfuscator, Hamm's minimax filter):
the same saddle point under simultaneous gradient steps, one optimiser and one pass per batch
(so a step costs about what a Simple step does, and it runs unchanged under tf.distribute),
where alternation doubles the passes and needs a second optimiser in the checkpoint.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.defences import base


def reverse_gradient(x, weight):
  """Forward: ``x``; backward: ``-weight`` times the incoming gradient (no custom gradient needed)."""
  return tf.stop_gradient((1.0 + weight) * x) - weight * x


@keras.saving.register_keras_serializable(package="dpfe_tf")
class IdentityAdversary(base.Defence):
  """Cross-entropy of an identity classifier on the gradient-reversed feature.

  Logs the adversary's cross-entropy (``identity_loss``) and its training-batch accuracy
  (``identity_acc``): a working defence keeps both near chance while the attributes stay right.
  """
  metric_names = ("identity_loss", "identity_acc")

  def __init__(self, num_identities, feature_dim, beta=1.0, hidden=256, groups=1, **kwargs):
    super().__init__(beta=beta, groups=groups, **kwargs)
    self.num_identities = int(num_identities)
    self.feature_dim = int(feature_dim)
    self.hidden_units = int(hidden)
    if self.num_identities < 2:
      raise ValueError("the adversarial defence needs at least 2 training identities")
    self.hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="adversary_hidden")
    self.out = keras.layers.Dense(self.num_identities, name="adversary_logits")
    self.hidden.build((None, self.feature_dim))
    self.out.build((None, self.hidden_units))

  def call(self, features, identities, labels=None):
    logits = self.out(self.hidden(reverse_gradient(tf.cast(features, tf.float32), self.beta)))
    y = tf.cast(tf.reshape(identities, [-1]), tf.int32)
    ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32))
    return ce, -self.beta * ce, {"identity_loss": ce, "identity_acc": acc}

  def get_config(self):
    return {**super().get_config(), "num_identities": self.num_identities, "feature_dim": self.feature_dim,
            "hidden": self.hidden_units}


def make(beta, margin=None, num_identities=None, groups=1, feature_dim=None):
  return IdentityAdversary(num_identities=num_identities, feature_dim=feature_dim, beta=beta, groups=groups,
                           name="identity_adversary")
