"""Defences together (``--defence=dpfe+adversarial``): the parts' losses summed on the same feature.

Each part keeps its own default weight, scaled by the combination's ``beta`` (1: each at its
default; ``--beta=auto`` searches the common scale); DPFE's margin is the combination's margin.
The logged metrics are the parts' own. A part that reads the predictor's coordinates
(``dpfe_score``) receives them; the others see the feature only.
"""

from __future__ import annotations

import keras

from dpfe_tf.defences import base


@keras.saving.register_keras_serializable(package="dpfe_tf")
class Combined(base.Defence):
  def __init__(self, parts, beta=1.0, groups=1, **kwargs):
    super().__init__(beta=beta, groups=groups, **kwargs)
    self.parts = [p if isinstance(p, keras.layers.Layer) else keras.saving.deserialize_keras_object(p) for p in parts]
    self.metric_names = tuple(n for p in self.parts for n in p.metric_names)

  @property
  def reads_predictor(self):
    return any(getattr(p, "reads_predictor", False) for p in self.parts)

  def call(self, features, identities, labels=None, predictor_coordinates=None):
    loss = objective = 0.0
    metrics = {}
    for p in self.parts:
      extra = {"predictor_coordinates": predictor_coordinates} if getattr(p, "reads_predictor", False) else {}
      l, o, m = p(features, identities, labels=labels, **extra)
      loss, objective = loss + l, objective + o
      metrics.update(m)
    return loss, objective, metrics

  def get_config(self):
    return {**super().get_config(), "parts": [keras.saving.serialize_keras_object(p) for p in self.parts]}


def make(beta, margin=None, num_identities=None, groups=1, feature_dim=None, names=()):
  from dpfe_tf import defences
  parts = []
  for name in names:
    spec = defences.get(name)
    parts.append(spec.layer(spec.default_beta * beta, margin if spec.uses_margin else None,
                            num_identities=num_identities, groups=groups, feature_dim=feature_dim))
  return Combined(parts, beta=beta, groups=groups, name="combined")
