"""The model each training stage fits: image -> extractor -> private feature -> predictor -> logits,
plus the defence's loss on the private feature.

A ``keras.Model`` subclass with its own ``train_step`` and ``test_step`` (the public way to add a
loss that needs the feature and the identities, as tensorflow/model-remediation's MinDiffModel
does): the attribute loss (sigmoid cross-entropy, mean over images and attributes) plus the
defence's term, both means over the replica's batch and divided by the number of replicas for
the gradient, so R replicas train like one device on the global batch. Every logged value is
averaged over the replicas with the replica context's ``all_reduce`` before it is tracked, so
each replica reports the global figure.

Under ``tf.distribute`` (see ``training.distribute``) the wrapper is created outside the
strategy's scope, its extractor, predictor, defence and optimizer inside, and ``fit`` runs in the
scope: Keras then takes no batch from the data to build the model, and the logged values are
returned with shape (1,) under ``MultiWorkerMirroredStrategy``, whose Keras averaging
(``strategy.reduce("MEAN", v, axis=0)``) needs an axis. Both behaviours are checked by
``tests/test_training_model.py`` and ``tests/test_distribute.py``.

The original stage uses the same class with ``predictor=None``: MOON is the "extractor" and its
output the logits. ``feature_noise`` > 0 (noise-aware fine-tuning, not in the paper): while
training, the predictor sees the feature plus N(0, s^2 I), so it learns to read the directions
that noise leaves legible; the defence's loss sees the clean feature. With
``feature_noise_shape="predictor"`` the noise spares the directions the predictor reads in the
batch (s (I - U U^T) e, U from ``predictor_reading.read_directions``): the training twin of the
test-time ``--noise_shape=predictor``, teaching the predictor to read those directions only
(found at the clean feature). A defence whose ``reads_predictor`` is set (``dpfe_score``) also
receives the clean feature's coordinates along the directions the predictor reads at the feature
it sees in this batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dpfe_tf.models import predictor_reading


def _image(x):
  return x["image"] if isinstance(x, dict) else x


@keras.saving.register_keras_serializable(package="dpfe_tf")
class TrainingModel(keras.Model):
  def __init__(self, extractor, predictor=None, defence=None, feature_noise=0.0, feature_noise_shape="isotropic",
               **kwargs):
    super().__init__(**kwargs)
    self.extractor = extractor
    self.predictor = predictor
    self.defence = defence
    self.feature_noise = float(feature_noise)
    self.feature_noise_shape = str(feature_noise_shape)
    names = ("loss", "acc") + (tuple(defence.metric_names) if defence is not None else ())
    self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
    # The parts are built (functional models, a defence that builds its layers on creation), so the
    # wrapper is too: saving and loading then keep the optimizer's state.
    self.built = True

  def call(self, inputs, training=False):
    f = self.extractor(_image(inputs), training=training)
    return f if self.predictor is None else self.predictor(f, training=training)

  @property
  def metrics(self):
    return list(self.trackers.values())

  def _forward(self, x, y, training):
    """(loss to differentiate, {logged name: value}) for one replica's batch."""
    f = self.extractor(_image(x), training=training)
    seen = f if not (training and self.feature_noise > 0) else f + self._training_noise(f)
    reads = training and getattr(self.defence, "reads_predictor", False)
    if reads:
      logits, directions = predictor_reading.read_directions(self.predictor, seen, training=training)
    else:
      logits = f if self.predictor is None else self.predictor(seen, training=training)
    y = tf.cast(y, logits.dtype)
    attribute_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    acc = tf.reduce_mean(tf.cast(tf.equal(logits > 0, y > 0.5), tf.float32))
    loss, logged = attribute_loss, {"loss": attribute_loss, "acc": acc}
    if training and self.defence is not None:
      extra = {"predictor_coordinates": tf.matmul(tf.cast(f, tf.float32), directions)} if reads else {}
      term, objective, metrics = self.defence(f, x["identity"], labels=y, **extra)
      loss = loss + term
      logged.update(metrics, loss=attribute_loss + objective)
    return loss, logged

  def _training_noise(self, f):
    e = tf.random.normal(tf.shape(f), stddev=self.feature_noise, dtype=f.dtype)
    if self.feature_noise_shape == "predictor":
      _, u = predictor_reading.read_directions(self.predictor, f, training=False)
      u = tf.cast(u, f.dtype)
      e = e - tf.matmul(tf.matmul(e, u), u, transpose_b=True)
    return e

  def _track(self, logged):
    ctx = tf.distribute.get_replica_context()
    names = [n for n in self.trackers if n in logged]
    values = tf.stack([tf.cast(logged[n], tf.float32) for n in names])
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      values = ctx.all_reduce("MEAN", values)
    for i, n in enumerate(names):
      self.trackers[n].update_state(values[i])
    per_axis = isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy)
    return {n: tf.reshape(m.result(), [1]) if per_axis else m.result()
            for n, m in self.trackers.items() if n in logged}

  def train_step(self, data):
    x, y = data[0], data[1]
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    with tf.GradientTape() as tape:
      loss, logged = self._forward(x, y, training=True)
      scaled = loss / replicas
    variables = self.trainable_variables
    gradients = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._track(logged)

  def test_step(self, data):
    _, logged = self._forward(data[0], data[1], training=False)
    return self._track(logged)

  def get_config(self):
    ser = keras.saving.serialize_keras_object
    return {**super().get_config(), "feature_noise": self.feature_noise,
            "feature_noise_shape": self.feature_noise_shape, "extractor": ser(self.extractor),
            "predictor": ser(self.predictor) if self.predictor is not None else None,
            "defence": ser(self.defence) if self.defence is not None else None}

  @classmethod
  def from_config(cls, config):
    de = keras.saving.deserialize_keras_object
    config = dict(config)
    parts = {k: de(config.pop(k)) if config.get(k) is not None else config.pop(k, None)
             for k in ("extractor", "predictor", "defence")}
    return cls(**parts, **config)
