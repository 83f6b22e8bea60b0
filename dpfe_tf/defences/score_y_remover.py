"""The y-remover on what the predictor reads (``--defence=dpfe_score``): the label-conditional pair
loss on the feature's coordinates along the directions the cloud's predictor is sensitive to.

Test-time noise that spares the predictor's directions (``--noise_shape=predictor``) drowns the
rest of the feature, and what an attacker still reads is the feature *along* those directions: the
predictor's own continuous "how male" score, which varies from person to person within a label
(docs/results.md: under that noise every defence levels off near 0.50-0.52, where the Male label
alone would give 0.58). This loss aims at that spread:

    c_i = U^T f_i   (U: dim x k, the top-k eigenvectors of the batch's E[J^T J], J the Jacobian of
                     the predictor's k logits at the feature; held constant within a step)
    L = mean over counted pairs [ ||c_i - c_j||^2              different identities, same labels (pull)
                                  max(m_k - ||c_i - c_j||, 0)^2  same identity (push apart) ]

over the pairs that share every primary label or the person (``conditional_y_remover``), with the
margin kept relative to the typical pair distance: m_k = margin x sqrt(k / dim). ``TrainingModel``
computes the coordinates (it owns the predictor; ``models.predictor_reading.read_directions``)
and passes them as ``predictor_coordinates`` to this layer only, as its ``reads_predictor`` is
set. With ``dpfe+dpfe_score`` the paper's y-remover works on the whole feature beside it. Not in
the paper.
"""

from __future__ import annotations

import keras

from dpfe_tf.defences import conditional_y_remover, y_remover


@keras.saving.register_keras_serializable(package="dpfe_tf")
class ScoreYRemover(y_remover.YRemover):
  """beta x the label-conditional pair loss on the coordinates the predictor reads."""
  reads_predictor = True
  metric_names = ("score_y_remover", "score_same_pairs")

  def __init__(self, margin=10.0, beta=1.0, groups=1, feature_dim=10, **kwargs):
    super().__init__(margin=margin, beta=beta, groups=groups, **kwargs)
    self.feature_dim = int(feature_dim)

  def pair_keep(self, identities, labels):
    return conditional_y_remover.same_labels_or_identity(identities, labels)

  def call(self, features, identities, labels=None, predictor_coordinates=None):
    if predictor_coordinates is None:
      raise ValueError("dpfe_score needs the feature's coordinates along the predictor's directions "
                       "(predictor_coordinates=...; TrainingModel passes them)")
    k = predictor_coordinates.shape[-1]
    loss, same = self.pair_loss(predictor_coordinates, identities, labels,
                                margin=self.margin * (k / self.feature_dim) ** 0.5)
    weighted = self.beta * loss
    return weighted, weighted, {"score_y_remover": loss, "score_same_pairs": same}

  def get_config(self):
    return {**super().get_config(), "feature_dim": self.feature_dim}


def make(beta, margin, num_identities=None, groups=1, feature_dim=None):
  return ScoreYRemover(margin=margin, beta=beta, groups=groups, feature_dim=feature_dim or 10,
                       name="score_y_remover")
