"""Keras -> TFLite: batch-1 rebuilds of the extractor, trunks and full MOON, in four forms.

Forms: ``float32``; ``dynamic`` (dynamic-range: int8 weights, float activations);
``float16`` (float16 weights); ``int8`` (full integer, int8 input and output, calibrated on a
representative dataset). Quantisation-aware training (``qat``) lives in ``dpfe_tf.qat``, in
its own process. Every graph ends in a real op (the extractor in the code's batch-norm
mul/add or a fully connected layer, a trunk in its convolution) and has batch 1.
"""

from __future__ import annotations

import numpy as np

from dpfe_tf.models import moon, separation

FORMS = ("float32", "dynamic", "float16", "int8")


def batch1_extractor(extractor, layer: str):
  """The trained extractor rebuilt with a fixed batch of 1 (weights copied by layer name)."""
  size = tuple(extractor.input_shape[1:3])
  dim = extractor.output_shape[-1]
  b1 = separation.build_extractor(layer, size, dim, batch_size=1)
  _copy_all(extractor, b1)
  return b1


def batch1_trunk(original, layer: str):
  size = tuple(original.input_shape[1:3])
  b1 = moon.build_trunk(layer, size, batch_size=1)
  _copy_all(original, b1)
  return b1


def batch1_full(original):
  size = tuple(original.input_shape[1:3])
  b1 = moon.build_moon(size, original.output_shape[-1], batch_size=1)
  _copy_all(original, b1)
  return b1


def _copy_all(src, dst):
  copied = set(moon.copy_weights(src, dst))
  missing = [l.name for l in dst.layers if l.weights and l.name not in copied]
  if missing:
    raise ValueError(f"could not copy weights into {', '.join(missing)} from {src.name}")


def convert(model, form: str, representative=None) -> bytes:
  """TFLite flatbuffer of ``model`` in ``form``; ``representative``: float images (N,H,W,3) for int8."""
  if form not in FORMS:
    raise ValueError(f"unknown form {form!r}; use one of {', '.join(FORMS)}")
  if model.input_shape[0] != 1:
    raise ValueError("mobile graphs must have batch 1: rebuild with batch1_extractor/trunk/full")
  import tensorflow as tf
  conv = tf.lite.TFLiteConverter.from_keras_model(model)
  if form != "float32":
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
  if form == "float16":
    conv.target_spec.supported_types = [tf.float16]
  if form == "int8":
    if representative is None or len(representative) == 0:
      raise ValueError("the int8 form needs representative images")
    rep = np.asarray(representative, np.float32)
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
  from dpfe_tf.io_utils import quiet_fds
  with quiet_fds():
    return conv.convert()
