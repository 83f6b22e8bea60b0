"""Linkage to a real face recogniser (``linkage``): private feature -> face embedding -> photo.

The adversary trains a regressor (Keras MLP, 2 x 512) from the private feature to dlib's face
embedding of the *same image*, on public photos of other people pushed through the public
extractor (with the same noise); then it maps each probe's feature to a predicted embedding and
ranks the gallery identities by their nearest real photo's embedding. This is the realistic
attack: photos from social media, no feature of the victim needed in the gallery.
"""

from __future__ import annotations

import numpy as np

from dpfe_tf.models import compiled
from dpfe_tf.privacy.attackers import base


def train_regressor(x, y, seed=0, *, epochs=40, hidden=512, batch_size=128, validation_fraction=0.1):
  """An MLP from x to y (MSE), early-stopped on a held-out tenth; returns (model, history)."""
  import keras
  keras.utils.set_random_seed(seed)
  x = np.asarray(x, np.float32)
  y = np.asarray(y, np.float32)
  mu, sd = x.mean(0), x.std(0) + 1e-6
  inp = keras.Input((x.shape[1],))
  h = keras.layers.Normalization(mean=mu, variance=sd ** 2)(inp)
  for _ in range(2):
    h = keras.layers.Dense(hidden, activation="relu")(h)
  model = keras.Model(inp, keras.layers.Dense(y.shape[1])(h))
  compiled.compile_built(model, keras.optimizers.Adam(1e-3), "mse")
  order = np.random.default_rng(seed).permutation(len(x))
  n_val = max(1, int(validation_fraction * len(x)))
  val, train = order[:n_val], order[n_val:]
  stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
  hist = model.fit(x[train], y[train], validation_data=(x[val], y[val]), epochs=epochs, batch_size=batch_size,
                   verbose=0, callbacks=[stop])
  return model, hist.history


class LinkageAttacker(base.Attacker):
  name = "linkage"
  summary = "regressor from the feature to dlib's face embedding (trained on public people), nearest real photo"
  needs = ("public_features", "public_photos", "photos")

  def __init__(self, epochs=40):
    self.epochs = epochs
    self.model, self.history, self._pred = None, None, None

  def prepare(self, data, folds):
    self.model, self.history = train_regressor(data.public_features, data.public_photos, data.seed, epochs=self.epochs)
    self._pred = self.model.predict(np.asarray(data.features, np.float32), batch_size=1024, verbose=0)

  def scores(self, data, gallery, probe):
    classes, sc = nearest_photo(self._pred[probe], data, gallery)
    return classes, sc, {"regressor_val_mse": float(min(self.history["val_loss"]))}


def nearest_photo(embeddings, data, gallery):
  """Ranks the gallery identities by their real photo nearest to each embedding: (classes, scores)."""
  return base.by_identity(base.sq_distances(embeddings, data.photos[gallery]), data.identities[gallery])


class RealPhotoCeiling(base.Attacker):
  """Not an attack on the feature: the face recogniser on the probes' real photos, matched the same
  way (nearest real gallery photo). What any photo-based attacker could reach at most."""
  name = "real-photos"
  summary = "dlib's embedding of the probe's own photo, nearest real gallery photo (the ceiling)"
  needs = ("photos",)

  def scores(self, data, gallery, probe):
    return (*nearest_photo(data.photos[probe], data, gallery), {})
