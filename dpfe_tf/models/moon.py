"""The MOON "tiny darknet" attribute classifier (caffe-moon), with its Caffe geometry.

One layer table drives every builder. Each convolution is Caffe's: padding 1 on every
side (so a 1x1 convolution grows the map by two pixels), no bias (a bias would be
cancelled by the batch norm that follows), then batch norm without scale/shift and
LeakyReLU(0.1). Max-pooling 2/2 rounds up, which is Keras' ``padding="same"``.

The builders take the Keras module as an argument, so the same table instantiates in
Keras 3 (training, export) and in ``tf_keras`` (quantisation-aware training with
tensorflow-model-optimization, which accepts only Keras 2 models).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

#: CelebA aligned images: 218 high x 178 wide, RGB.
FULL_IMAGE_SIZE = (218, 178)
#: The cut points the paper evaluates.
PAPER_CUT_LAYERS = ("conv4_2", "conv5_1", "conv6_1", "conv7")
LEAKY_SLOPE = 0.1
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
HEAD_NAME = "moon-fc"


@dataclasses.dataclass(frozen=True)
class Conv:
  name: str
  kernel: int
  filters: int
  pool: str | None = None  # name of the 2/2 max-pool that follows, if any


LAYER_TABLE: tuple[Conv, ...] = (
    Conv("conv1", 3, 16, "pool1"),
    Conv("conv2", 3, 32, "pool2"),
    Conv("conv3", 1, 16, "pool3"),
    Conv("conv4_1", 3, 128),
    Conv("conv4_2", 1, 16),
    Conv("conv4_3", 3, 128, "pool4"),
    Conv("conv5_1", 1, 32),
    Conv("conv5_2", 3, 256),
    Conv("conv5_3", 1, 32),
    Conv("conv5_4", 3, 256, "pool5"),
    Conv("conv6_1", 1, 64),
    Conv("conv6_2", 3, 512),
    Conv("conv6_3", 1, 64),
    Conv("conv6_4", 3, 512),
    Conv("conv7", 1, 128),
    Conv("conv8", 1, 1000),
)
CONV_NAMES = tuple(c.name for c in LAYER_TABLE)
#: Every convolution can be a cut (its raw output, before batch norm) except conv8.
CUT_LAYERS = CONV_NAMES[:-1]


def check_layer(name: str) -> str:
  if name not in CUT_LAYERS:
    raise ValueError(
        f"unknown layer {name!r}; valid cut layers are {', '.join(CUT_LAYERS)} "
        f"(the paper uses {', '.join(PAPER_CUT_LAYERS)})")
  return name


def is_keras3(K) -> bool:
  return K.__name__ == "keras" and K.version().startswith("3")


def _leaky(K, name):
  if is_keras3(K):
    return K.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=name)
  return K.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=name)


def trunk_ops(K) -> list[tuple[str, Callable[[], object]]]:
  """The sequential trunk as (op name, layer factory), from conv1's padding to conv8's relu."""
  ops = []
  for c in LAYER_TABLE:
    ops += [
        (f"{c.name}_pad", lambda c=c: K.layers.ZeroPadding2D(1, name=f"{c.name}_pad")),
        (c.name, lambda c=c: K.layers.Conv2D(c.filters, c.kernel, use_bias=False, name=c.name)),
        (f"{c.name}_bn", lambda c=c: K.layers.BatchNormalization(
            center=False, scale=False, epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
            name=f"{c.name}_bn")),
        (f"{c.name}_relu", lambda c=c: _leaky(K, f"{c.name}_relu")),
    ]
    if c.pool:
      ops.append((c.pool, lambda c=c: K.layers.MaxPooling2D(2, 2, padding="same", name=c.pool)))
  return ops


def apply_trunk(x, K, start: str | None = None, stop: str | None = None):
  """Applies the trunk ops after ``start`` (exclusive) up to ``stop`` (inclusive)."""
  ops = trunk_ops(K)
  names = [n for n, _ in ops]
  lo = names.index(start) + 1 if start else 0
  hi = names.index(stop) + 1 if stop else len(ops)
  for _, make in ops[lo:hi]:
    x = make()(x)
  return x


def apply_head(x, K, num_outputs: int):
  """Global max and average pools of conv8, each L2-normalised, concatenated, dense."""
  gmp = K.layers.UnitNormalization(name="gmp_l2")(K.layers.GlobalMaxPooling2D(name="gmp")(x))
  gap = K.layers.UnitNormalization(name="gap_l2")(K.layers.GlobalAveragePooling2D(name="gap")(x))
  x = K.layers.Concatenate(name="pool_concat")([gmp, gap])
  return K.layers.Dense(num_outputs, name=HEAD_NAME)(x)


def image_input(K, image_size: Sequence[int], batch_size: int | None = None, name="image"):
  """Float RGB input in 0..255; the model scales by 1/255 itself."""
  h, w = image_size
  return K.Input((h, w, 3), batch_size=batch_size, name=name)


def rescale(x, K):
  return K.layers.Rescaling(1.0 / 255.0, name="scale")(x)


def build_moon(image_size: Sequence[int] = FULL_IMAGE_SIZE, num_outputs: int = 40, K=None,
               batch_size: int | None = None, name: str = "moon"):
  """The whole MOON classifier: image (0..255) -> attribute logits."""
  K = K or _keras()
  inp = image_input(K, image_size, batch_size)
  x = apply_trunk(rescale(inp, K), K)
  return K.Model(inp, apply_head(x, K, num_outputs), name=name)


def build_trunk(layer: str, image_size: Sequence[int] = FULL_IMAGE_SIZE, K=None,
                batch_size: int | None = None):
  """The bare trunk cut at ``layer``: image -> raw output of that convolution."""
  K = K or _keras()
  check_layer(layer)
  inp = image_input(K, image_size, batch_size)
  return K.Model(inp, apply_trunk(rescale(inp, K), K, stop=layer), name=f"trunk_{layer}")


def cut_shape(layer: str, image_size: Sequence[int] = FULL_IMAGE_SIZE) -> tuple[int, int, int]:
  """(H, W, C) of a convolution's output, computed from the table without building a model."""
  if layer not in CONV_NAMES:
    check_layer(layer)
  h, w = image_size
  for c in LAYER_TABLE:
    h, w = h + 2 - c.kernel + 1, w + 2 - c.kernel + 1
    if c.name == layer:
      return (h, w, c.filters)
    if c.pool:
      h, w = -(-h // 2), -(-w // 2)
  raise AssertionError(layer)


def copy_weights(src, dst) -> list[str]:
  """Copies weights between layers of the same name and shapes; returns the names copied."""
  by_name = {l.name: l for l in _all_layers(src)}
  copied = []
  for layer in _all_layers(dst):
    other = by_name.get(layer.name)
    if other is None or not layer.weights:
      continue
    w = other.get_weights()
    if [v.shape for v in w] == [tuple(v.shape) for v in layer.weights]:
      layer.set_weights(w)
      copied.append(layer.name)
  return copied


def _all_layers(model):
  for layer in model.layers:
    if hasattr(layer, "layers") and layer.layers and layer.__class__.__name__ in ("Functional", "Model"):
      yield from _all_layers(layer)
    else:
      yield layer


def _keras():
  import keras
  return keras
