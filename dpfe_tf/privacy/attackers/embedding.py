"""Identity embeddings learned on public people, LDA in them (``embedding``).

What face recognition does, on private features: the attacker trains identity classifiers on the
public people (other people's images through the public extractor, with the same noise), keeps
their hidden layers as embeddings, which can read identity where it is not linear in the feature,
and ranks the gallery's identities by the ``lda`` attacker in each embedding (gallery means,
covariance pooled with the public people's embeddings). One embedding per size in ``GRID``; their
log-posteriors are summed (a product of experts), so no size is chosen: on the demo faces a
size chosen on held-out public people was not the best one on the evaluated people, and the sum
was as strong as the best single size. Only public people train it; the evaluated people are the
gallery and the probes, as for every attacker.
"""

from __future__ import annotations

from dpfe_tf.privacy.attackers import base, classifier, lda

GRID = tuple(classifier.Setting(h, 500, 1e-3) for h in (16, 32, 64))


class EmbeddingAttacker(base.Attacker):
  name = "embedding"
  summary = "identity embeddings learned on public people (MLP hidden layers of 3 sizes), LDA in each, summed"
  needs = ("public_features",)

  def __init__(self, grid=GRID):
    self.grid = tuple(grid)
    self._source, self._parts = None, []

  def prepare(self, data, folds):
    """Trains the embeddings on the public people and embeds the evaluated features."""
    if data.public_features is None:
      raise ValueError("the embedding attacker needs public data (other people's features)")
    pf, py = data.public_features, data.public_identities
    self._source, self._parts = data.features, []
    for s in self.grid:
      embed = classifier.fit_embedding(pf, py, s, data.seed)
      part = base.AttackData(embed(data.features), data.identities, data.seed, embed(pf), py)
      attacker = lda.LDAAttacker()
      attacker.prepare(part, folds)
      self._parts.append((part, attacker))

  def scores(self, data, gallery, probe):
    if not self._parts or data.features is not self._source:
      raise ValueError("the embedding attacker scores only the features it was prepared with")
    total, classes = 0.0, None
    for part, attacker in self._parts:
      classes, s, _ = attacker.scores(part, gallery, probe)
      total = total + classifier.log_softmax(s)
    return classes, total, {"hidden": [s.hidden for s in self.grid], "steps": self.grid[0].steps}
