"""Layer separation: cut MOON at a layer into the on-device extractor and the cloud predictor.

extractor: image -> conv1 ... <layer> (raw conv output) -> bottleneck code (private feature)
predictor: private feature -> decoder -> <layer>_bn ... conv8 -> head -> attribute logits
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from dpfe_tf.models import bottleneck, moon


@dataclasses.dataclass
class SplitModel:
  extractor: object
  predictor: object

  def full(self, K=None):
    """image -> logits, composed from the two halves (shares their weights)."""
    K = K or moon._keras()
    inp = K.Input(self.extractor.input_shape[1:], name="image")
    return K.Model(inp, self.predictor(self.extractor(inp)), name="full")

  def paired(self) -> "SplitModel":
    """The same halves named after the extractor's weights (``extractor_<id>``, ``predictor_<id>``),
    so that a predictor can tell whether an extractor is its own (``pair_id``, ``check_pair``)."""
    import keras
    pid = weights_id(self.extractor)
    return SplitModel(keras.Model(self.extractor.inputs, self.extractor.outputs, name=f"extractor_{pid}"),
                      keras.Model(self.predictor.inputs, self.predictor.outputs, name=f"predictor_{pid}"))


def weights_id(model) -> str:
  """12 hex digits of the SHA-256 of a model's weights: the identity of a trained extractor."""
  h = hashlib.sha256()
  for w in model.get_weights():
    h.update(np.ascontiguousarray(w, np.float32).tobytes())
  return h.hexdigest()[:12]


def pair_id(model) -> str | None:
  """The pairing id in an extractor's or predictor's name, or None (not a paired half)."""
  name = getattr(model, "name", "") or ""
  for prefix in ("extractor_", "predictor_"):
    if name.startswith(prefix) and len(name) == len(prefix) + 12:
      return name[len(prefix):]
  return None


def check_pair(extractor_id: str | None, predictor, where: str):
  """A predictor must belong to the extractor whose features it gets."""
  pid = pair_id(predictor)
  if extractor_id is None or pid is None:
    raise ValueError(f"{where}: cannot tell whether the predictor belongs to the extractor (no pairing id; "
                     "retrain or re-export with this version)")
  if pid != extractor_id:
    raise ValueError(f"{where}: the predictor belongs to extractor {pid}, not to this extractor "
                     f"({extractor_id}): the two halves come from different trainings")


def build_extractor(layer: str, image_size, dim: int, K=None, batch_size: int | None = None):
  """image -> MOON up to the raw ``layer`` output -> flatten -> encoder -> code batch norm."""
  K = K or moon._keras()
  moon.check_layer(layer)
  inp = moon.image_input(K, image_size, batch_size)
  cut = moon.apply_trunk(moon.rescale(inp, K), K, stop=layer)
  return K.Model(inp, bottleneck.add_encoder(cut, K, dim), name="extractor")


def build_split(layer: str, image_size, dim: int, num_outputs: int, K=None,
                batch_size: int | None = None) -> SplitModel:
  K = K or moon._keras()
  extractor = build_extractor(layer, image_size, dim, K, batch_size)
  code = K.Input((dim,), batch_size=batch_size, name="private_feature")
  x = bottleneck.add_decoder(code, K, moon.cut_shape(layer, image_size))
  x = moon.apply_trunk(x, K, start=layer)
  predictor = K.Model(code, moon.apply_head(x, K, num_outputs), name="predictor")
  return SplitModel(extractor, predictor)


def head_rows(original, attr_indices, split: SplitModel):
  """Starts the predictor's head from the original head's rows for the chosen attributes."""
  kernel, bias = original.get_layer(moon.HEAD_NAME).get_weights()
  split.predictor.get_layer(moon.HEAD_NAME).set_weights(
      [kernel[:, attr_indices], bias[attr_indices]])


def separate(original, layer: str, dim: int, attr_indices, cut_outputs, *, seed: int = 0,
             K=None) -> tuple[SplitModel, bottleneck.PCA]:
  """Builds the Simple model's starting point from a trained original MOON.

  ``cut_outputs``: the original's raw ``layer`` outputs on training images (N,H,W,C),
  used to fit the PCA that initialises the bottleneck.
  """
  image_size = original.input_shape[1:3]
  split = build_split(layer, image_size, dim, len(attr_indices), K=K)
  moon.copy_weights(original, split.extractor)
  moon.copy_weights(original, split.predictor)
  head_rows(original, list(attr_indices), split)
  flat = np.asarray(cut_outputs, np.float32).reshape(len(cut_outputs), -1)
  pca = bottleneck.fit_pca(flat, dim, seed=seed)
  bottleneck.init_from_pca(split.extractor, pca)
  bottleneck.init_from_pca(split.predictor, pca)
  return split, pca
