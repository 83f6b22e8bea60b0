"""TrainingModel: the defence's loss added in train_step, one device and two replicas alike, saved whole.

These guard the public-API mechanism that replaced the old patches of Keras internals: if Keras
changes how a custom ``train_step`` runs under ``tf.distribute`` (a loss counted per replica, the
gradient scale, the model built from a batch), the replica test fails here, not only in the
end-to-end distributed training test."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from dpfe_tf.defences import adversarial, y_remover
from dpfe_tf.models.training_model import TrainingModel
from dpfe_tf.run_dir import load_model


def _parts(seed=0):
  keras.utils.set_random_seed(seed)
  inp = keras.Input((6,))
  ext = keras.Model(inp, keras.layers.BatchNormalization(center=False, scale=False)(keras.layers.Dense(3)(inp)))
  code = keras.Input((3,))
  return ext, keras.Model(code, keras.layers.Dense(2)(code))


def _batch(seed=0, n=16):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  y = (rng.random((n, 2)) > 0.5).astype(np.float32)
  ids = np.repeat(np.arange(n // 4), 4).astype(np.int32)
  return {"image": x, "identity": ids}, y


def test_logged_loss_is_attribute_loss_plus_weighted_defence_term():
  ext, pred = _parts()
  model = TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=0.5))
  model.compile(optimizer=keras.optimizers.SGD(0.0))
  x, y = _batch()
  logs = model.train_on_batch(x, y, return_dict=True)
  f = ext(x["image"], training=True)
  logits = pred(f)
  attr = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)))
  pair = float(y_remover.y_remover_loss(f, x["identity"], 2.0))
  assert logs["y_remover"] == pytest.approx(pair, rel=1e-4)
  assert logs["loss"] == pytest.approx(attr + 0.5 * pair, rel=1e-4)
  assert logs["same_pairs"] == pytest.approx(3 / 15)


def test_feature_noise_reaches_the_predictor_in_training_only_and_the_defence_never():
  ext, pred = _parts()
  x, y = _batch()
  clean = TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=0.5))
  noisy = TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=0.5), feature_noise=3.0)
  for m in (clean, noisy):
    m.compile(optimizer=keras.optimizers.SGD(0.0))
  a, b = clean.train_on_batch(x, y, return_dict=True), noisy.train_on_batch(x, y, return_dict=True)
  assert b["y_remover"] == pytest.approx(a["y_remover"], rel=1e-5)     # the defence sees the clean feature
  assert abs(b["loss"] - a["loss"]) > 1e-2                              # the predictor does not
  ta, tb = clean.test_on_batch(x, y, return_dict=True), noisy.test_on_batch(x, y, return_dict=True)
  assert tb["loss"] == pytest.approx(ta["loss"], rel=1e-6)              # and at test time no noise at all
  np.testing.assert_allclose(noisy.predict(x, verbose=0), clean.predict(x, verbose=0), rtol=1e-6)
  assert TrainingModel.from_config(noisy.get_config()).feature_noise == 3.0


def test_adversarial_logs_the_extractors_objective():
  ext, pred = _parts()
  model = TrainingModel(ext, pred, adversarial.IdentityAdversary(num_identities=4, feature_dim=3, beta=2.0))
  model.compile(optimizer=keras.optimizers.SGD(0.0))
  logs = model.train_on_batch(*_batch(), return_dict=True)
  # The extractor's objective: attribute loss minus beta times the adversary's cross-entropy.
  assert logs["loss"] < 0.8 - 2.0 * 0.8 * logs["identity_loss"] + 2.0 * logs["identity_loss"]
  assert logs["identity_loss"] > 0 and 0 <= logs["identity_acc"] <= 1


def test_saved_whole_and_resumed_with_the_optimizer_state(tmp_path):
  ext, pred = _parts()
  model = TrainingModel(ext, pred, adversarial.IdentityAdversary(num_identities=4, feature_dim=3, beta=1.0))
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  for _ in range(3):
    model.train_on_batch(*_batch())
  path = str(tmp_path / "m.keras")
  model.save(path)
  back = load_model(path)
  assert isinstance(back, TrainingModel) and isinstance(back.defence, adversarial.IdentityAdversary)
  assert int(back.optimizer.iterations) == 3
  for a, b in zip(back.get_weights(), model.get_weights()):
    np.testing.assert_array_equal(a, b)
  x, y = _batch(1)
  assert back.train_on_batch(x, y, return_dict=True)["loss"] == pytest.approx(
      model.train_on_batch(x, y, return_dict=True)["loss"], rel=1e-5)


REPLICA_SCRIPT = r"""
import json, sys
import numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[2])
mode = sys.argv[1]
from dpfe_tf.training import distribute
strategy = distribute.make_strategy("mirrored", cpu_replicas=2) if mode == "mirrored" else None
import keras
import test_training_model as t
from dpfe_tf.defences import y_remover
from dpfe_tf.models.training_model import TrainingModel
ext, pred = t._parts()
host = TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=1.0, groups=1 if mode == "mirrored" else 2))
host.compile(optimizer=keras.optimizers.SGD(0.05))
model = distribute.replicate(host, strategy)
batches = [t._batch(s) for s in range(6)]
ds = tf.data.Dataset.range(6).map(lambda i: tf.py_function(lambda i: 0, [i], tf.int32))
x = {k: np.stack([b[0][k] for b in batches]) for k in ("image", "identity")}
y = np.stack([b[1] for b in batches])
ds = tf.data.Dataset.from_tensor_slices((x, y))
with distribute.scope(strategy):
  hist = model.fit(ds, epochs=2, steps_per_epoch=3, verbose=0).history
print("RESULT", json.dumps({k: [float(np.mean(v)) for v in vs] for k, vs in hist.items()}))
"""


def _run(mode):
  here = os.path.dirname(os.path.abspath(__file__))
  proc = subprocess.run([sys.executable, "-c", REPLICA_SCRIPT, mode, here], capture_output=True, text=True,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.split("RESULT", 1)[1])


def test_two_replicas_train_like_one_device_forming_pairs_in_two_slices():
  one, two = _run("one"), _run("mirrored")
  assert set(one) == set(two) == {"loss", "acc", "y_remover", "same_pairs"}
  for k in one:
    np.testing.assert_allclose(two[k], one[k], rtol=2e-4, err_msg=k)
  assert one["same_pairs"][0] == pytest.approx(3 / 7)  # K - 1 / (B/R - 1) within a slice of 8


def test_predictor_shaped_training_noise_spares_what_a_linear_predictor_reads():
  keras.utils.set_random_seed(0)
  inp = keras.Input((6,))
  ext = keras.Model(inp, keras.layers.Dense(3)(inp))
  code = keras.Input((3,))
  pred = keras.Model(code, keras.layers.Dense(1)(code))     # one logit: one direction read
  x, y = _batch()
  y = y[:, :1]
  models = {shape: TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=0.5), feature_noise=5.0,
                                 feature_noise_shape=shape) for shape in ("isotropic", "predictor")}
  clean = TrainingModel(ext, pred, y_remover.YRemover(margin=2.0, beta=0.5))
  logs = {}
  for name, m in {**models, "clean": clean}.items():
    m.compile(optimizer=keras.optimizers.SGD(0.0))
    logs[name] = m.train_on_batch(x, y, return_dict=True)
  assert logs["predictor"]["loss"] == pytest.approx(logs["clean"]["loss"], rel=1e-4)   # the logit never moves
  assert abs(logs["isotropic"]["loss"] - logs["clean"]["loss"]) > 1e-2                 # isotropic noise moves it
  noisy = models["predictor"]._training_noise(tf.constant(ext(x["image"])))
  assert float(tf.math.reduce_std(noisy)) > 1.0                                          # noise there is, elsewhere
  back = TrainingModel.from_config(models["predictor"].get_config())
  assert back.feature_noise_shape == "predictor"


@pytest.mark.parametrize("kind", ["training_model", "functional"])
def test_compile_built_traces_the_training_step_once(kind, monkeypatch):
  """The optimizer is built when compiling, so ``fit`` traces its step once, not twice (Keras
  builds an unbuilt optimizer inside the first trace, and a tf.function that makes variables is
  traced again). Both kinds of model the tool fits: its TrainingModel and the attackers' MLPs."""
  from dpfe_tf.models import compiled
  ext, pred = _parts()
  owner = TrainingModel if kind == "training_model" else keras.Model
  traces, real = [], owner.train_step
  monkeypatch.setattr(owner, "train_step", lambda self, data: traces.append(1) or real(self, data))
  x, y = _batch()
  if kind == "training_model":
    model, loss, data = TrainingModel(ext, pred), None, (x, y)
  else:
    model, loss, data = ext, "mse", (x["image"], np.zeros((16, 3), np.float32))
  compiled.compile_built(model, keras.optimizers.Adam(1e-3), loss)
  assert model.optimizer.built
  ds = tf.data.Dataset.from_tensors(data).repeat()
  model.fit(ds, epochs=2, steps_per_epoch=2, verbose=0)
  assert len(traces) == 1
