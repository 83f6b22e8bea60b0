"""Quantisation-aware training of an extractor -> full-int8 TFLite. Runs in its own process.

tensorflow-model-optimization accepts only tf_keras (Keras 2) models and importing it sets
TF_USE_LEGACY_KERAS=1 for the whole process, so ``dpfe_tf.export --qat`` calls this module
as a subprocess. It rebuilds the extractor in tf_keras from the same layer table, loads the
Keras 3 weights by layer name (weights.npz), annotates the layers tfmot supports (Rescaling
and the affine-free batch norms stay float until conversion), fine-tunes by distillation to
the float extractor's features (targets.npy) and converts with int8 input and output.
Not meant to be run by hand; see ``python -m dpfe_tf.export --qat``.
"""

from __future__ import annotations

import os

from absl import app, flags

flags.DEFINE_string("work_dir", None, "Folder with weights.npz, images.npy, targets.npy, representative.npy.")
flags.DEFINE_string("layer", None, "Cut layer.")
flags.DEFINE_string("image_size", None, "HxW.")
flags.DEFINE_integer("feature_dim", 10, "Private-feature dimension.")
flags.DEFINE_integer("steps", 200, "Fine-tuning steps.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-5, "Adam learning rate.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("output", None, "The .tflite to write.")
F = flags.FLAGS


def main(_):
  import numpy as np
  import tensorflow_model_optimization as tfmot  # sets TF_USE_LEGACY_KERAS=1: tf_keras from here on
  import tensorflow as tf
  import tf_keras

  from dpfe_tf.models import compiled, separation
  h, w = (int(v) for v in F.image_size.split("x"))
  tf_keras.utils.set_random_seed(F.seed)
  model = separation.build_extractor(F.layer, (h, w), F.feature_dim, K=tf_keras)
  weights = np.load(os.path.join(F.work_dir, "weights.npz"))
  for layer in model.layers:
    if layer.weights:
      layer.set_weights([weights[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
  registry = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()

  def annotate(layer):
    return tfmot.quantization.keras.quantize_annotate_layer(layer) if registry.supports(layer) else layer

  annotated = tf_keras.models.clone_model(model, clone_function=annotate)
  annotated.set_weights(model.get_weights())
  with tfmot.quantization.keras.quantize_scope():
    qmodel = tfmot.quantization.keras.quantize_apply(annotated)
  for layer in qmodel.layers:  # keep the trained batch-norm statistics: tune weights, not moments
    if "batch_normalization" in type(layer).__name__.lower() or layer.name.endswith("_bn"):
      layer.trainable = False
  x = np.load(os.path.join(F.work_dir, "images.npy"))
  y = np.load(os.path.join(F.work_dir, "targets.npy"))
  calibrate_ranges(qmodel, model, x[:256], tf_keras)
  compiled.compile_built(qmodel, tf_keras.optimizers.Adam(F.learning_rate), "mse")
  ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=F.seed).repeat().batch(F.batch_size)
  hist = qmodel.fit(ds, steps_per_epoch=F.steps, epochs=1, verbose=0)
  rep = np.load(os.path.join(F.work_dir, "representative.npy"))
  # Batch 1 for the mobile graph: the QAT model was built with a free batch dimension.
  conv = tf.lite.TFLiteConverter.from_concrete_functions(
      [tf.function(lambda t: qmodel(t, training=False)).get_concrete_function(
          tf.TensorSpec([1, h, w, 3], tf.float32))], qmodel)
  conv.optimizations = [tf.lite.Optimize.DEFAULT]
  conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))
  conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  conv.inference_input_type = tf.int8
  conv.inference_output_type = tf.int8
  from dpfe_tf.io_utils import quiet_fds
  with quiet_fds():
    data = conv.convert()
  with open(F.output, "wb") as f:
    f.write(data)
  print(f"qat: distillation mse {hist.history['loss'][-1]:.4g}; wrote {F.output} ({len(data)} bytes)")


RANGE_VARIABLES = ("post_activation_min", "post_activation_max", "output_min", "output_max")


def calibrate_ranges(qmodel, float_model, images, K):
  """Starts every activation fake-quant range at the float model's observed [min, max].

  tfmot starts them at [-6, 6] and moves them by a moving average (decay 0.999), so a short
  fine-tuning leaves large activations (the encoder's PCA-scale output) clipped.
  """
  ranges = {}
  for layer in qmodel.layers:
    found = [w for w in layer.weights if w.name.split("/")[-1].split(":")[0] in RANGE_VARIABLES]
    if found and hasattr(layer, "layer"):
      ranges[layer.layer.name] = found
  probe = K.Model(float_model.input, [float_model.get_layer(n).output for n in ranges])
  outs = probe.predict(images, batch_size=32, verbose=0)
  outs = outs if isinstance(outs, list) else [outs]
  for (name, variables), out in zip(ranges.items(), outs):
    lo, hi = min(float(out.min()), 0.0), max(float(out.max()), 0.0)
    for v in variables:
      v.assign(lo if v.name.split(":")[0].endswith("min") else hi)


if __name__ == "__main__":
  flags.mark_flags_as_required(["work_dir", "layer", "image_size", "output"])
  app.run(main)
