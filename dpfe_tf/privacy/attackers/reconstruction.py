"""The reconstruction attack (``reconstruction``; the paper's Section 6.3, Figure 10).

A decoder (Dosovitskiy & Brox) learns to invert what the phone sends, on public photos of other
people: the reference used fully connected layers (4096 x 4), a reshape to 256 x 4 x 4, stride-2
deconvolutions and a crop to 218x178, with a Euclidean loss; ``build_decoder`` scales that to the
image size in use. Optionally a perceptual term compares the reconstruction and the photo in a
fixed feature network (the original MOON's early layers).

The attack is measured, not only pictured: pixel fidelity (PSNR, SSIM), and **re-identification**:
each probe's reconstruction is embedded by a real face recogniser (dlib's ResNet,
``privacy.face``) and matched against the gallery's photos -- the real ones, or (stronger, the
evaluation's attacker) their own reconstructions through the public extractor and the decoder. ``ReconstructionAttacker`` is
that attack as one of the evaluation's identifying attackers (at the noise levels it is asked
for: a decoder is trained per level); ``python -m dpfe_tf.invert`` runs it on the original cut
and the private features, with the real-photo ceiling beside it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dpfe_tf.models import compiled
from dpfe_tf.privacy import measures
from dpfe_tf.privacy.attackers import base

EMBEDDING_LAYER = "pool_concat"


def decoder_geometry(image_size, start_height=4):
  """Number of stride-2 upsamplings, the start map (h0, w0) and the crop to the image size."""
  h, w = image_size
  n_up = max(1, int(round(math.log2(h / start_height))))
  h0, w0 = math.ceil(h / 2 ** n_up), math.ceil(w / 2 ** n_up)
  dh, dw = h0 * 2 ** n_up - h, w0 * 2 ** n_up - w
  return n_up, (h0, w0), ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2))


def build_decoder(input_shape, image_size, *, fc_units=None, fc_layers=2, channels=256, K=None, spatial=None):
  """features (any shape) -> image (H, W, 3) in 0..1.

  A vector (the private feature): the reference's design, fully connected layers (``fc_units``,
  4096 at 218x178 scaled with the image area, at least 512), a reshape to a small map, stride-2
  transposed convolutions (channels halving, at least 16), a crop. A spatial map (a raw cut,
  H' x W' x C) with ``spatial`` (default True for maps): a convolutional decoder that keeps the
  map's layout (3x3 convolutions, then stride-2 transposed convolutions up to the image size) --
  flattening a 20,000-d map into a few fully connected units throws away what an attacker has.
  """
  import keras
  K = K or keras
  h, w = image_size
  inp = K.Input(tuple(input_shape), name="sent")
  spatial = len(input_shape) == 3 if spatial is None else spatial
  if spatial:
    n_up = max(0, int(math.ceil(math.log2(h / input_shape[0]))))
    x = K.layers.Conv2D(channels, 3, padding="same", name="map_conv1")(inp)
    x = K.layers.LeakyReLU(negative_slope=0.2, name="map_conv1_relu")(x)
    x = K.layers.Conv2D(channels, 3, padding="same", name="map_conv2")(x)
    x = K.layers.LeakyReLU(negative_slope=0.2, name="map_conv2_relu")(x)
    out_h, out_w = input_shape[0] * 2 ** n_up, input_shape[1] * 2 ** n_up
  else:
    if fc_units is None:
      fc_units = max(512, int(4096 * h * w / (218 * 178)) // 64 * 64)
    n_up, (h0, w0), _ = decoder_geometry(image_size)
    x = K.layers.Flatten(name="flatten")(inp) if len(input_shape) > 1 else inp
    for i in range(fc_layers):
      x = K.layers.Dense(fc_units, name=f"fc{i + 1}")(x)
      x = K.layers.LeakyReLU(negative_slope=0.2, name=f"fc{i + 1}_relu")(x)
    x = K.layers.Dense(h0 * w0 * channels, name="fc_map")(x)
    x = K.layers.LeakyReLU(negative_slope=0.2, name="fc_map_relu")(x)
    x = K.layers.Reshape((h0, w0, channels), name="map")(x)
    out_h, out_w = h0 * 2 ** n_up, w0 * 2 ** n_up
  c = channels
  for i in range(n_up):
    c = max(16, c // 2)
    x = K.layers.Conv2DTranspose(c, 4, strides=2, padding="same", name=f"deconv{i + 1}")(x)
    x = K.layers.LeakyReLU(negative_slope=0.2, name=f"deconv{i + 1}_relu")(x)
  x = K.layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="rgb")(x)
  if (out_h, out_w) != (h, w):
    if out_h < h or out_w < w:
      x = K.layers.Resizing(h, w, name="resize")(x)
    else:
      dh, dw = out_h - h, out_w - w
      x = K.layers.Cropping2D(((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), name="crop")(x)
  return K.Model(inp, x, name="decoder")


def psnr_ssim(reconstructions, images):
  """Mean PSNR (dB) and SSIM of reconstructions vs images, both float in 0..255."""
  import tensorflow as tf
  a = tf.convert_to_tensor(np.asarray(reconstructions, np.float32))
  b = tf.convert_to_tensor(np.asarray(images, np.float32))
  return (float(tf.reduce_mean(tf.image.psnr(a, b, max_val=255.0))),
          float(tf.reduce_mean(tf.image.ssim(a, b, max_val=255.0))))


@dataclasses.dataclass
class Reidentification:
  top1_accuracy: float
  log_rank_privacy: float
  random_log_rank: float
  K: int
  n_probe: int
  ranks: list | None = None                 # every probe's rank of its true identity (1 = first)
  top1_interval: tuple | None = None        # bootstrap 95% intervals over the probes
  log_rank_interval: tuple | None = None


def reidentify(probe_embeddings, gallery_embeddings, probe_ids, gallery_ids) -> Reidentification:
  """Nearest-gallery matching: each identity scored by its closest gallery embedding."""
  classes, scores = base.by_identity(base.sq_distances(probe_embeddings, gallery_embeddings), gallery_ids)
  true_col = np.searchsorted(classes, np.asarray(probe_ids))
  if not np.all(classes[np.clip(true_col, 0, len(classes) - 1)] == np.asarray(probe_ids)):
    raise ValueError("every probe identity needs gallery photos")
  ranks = measures.true_ranks(scores, true_col)
  K = len(classes)
  return Reidentification(float((ranks == 1).mean()), measures.log_rank_privacy(ranks, K),
                          measures.random_references(K)[0], K, len(ranks), ranks.tolist())


def embedding(original):
  """The fixed identity-sensitive embedding: the original MOON up to its pooled 2000-d features."""
  import keras
  return keras.Model(original.input, original.get_layer(EMBEDDING_LAYER).output)


def reidentification_split(identities, seed=0, min_images=2):
  """Gallery: real photos; probes: the other photos (10%, every one once over the folds)."""
  y = np.asarray(identities)
  return [measures.attacker_split(y, min_images - 1, 0.1, seed, k) for k in range(10)]


def reidentify_rotated(embed_reconstructions, embed_real, identities, seed=0) -> Reidentification:
  """Every test photo is a probe once (as its reconstruction), against the others' real photos;
  with bootstrap 95% intervals of top-1 and log-rank privacy over the probes."""
  from dpfe_tf.privacy import intervals
  y = np.asarray(identities)
  ranks, K = [], None
  for split in reidentification_split(y, seed):
    r = reidentify(embed_reconstructions[split.probe], embed_real[split.gallery], y[split.probe], y[split.gallery])
    if K is not None and r.K != K:
      raise ValueError("the rotated folds' galleries hold different identities")
    ranks.append(np.asarray(r.ranks))
    K = r.K
  ranks = np.concatenate(ranks)
  terms = np.log(ranks) / np.log(K)
  return Reidentification(float((ranks == 1).mean()), float(terms.mean()), measures.random_references(K)[0], K,
                          len(ranks), ranks.tolist(), intervals.bootstrap_ci((ranks == 1).astype(float), seed=seed),
                          intervals.bootstrap_ci(terms, seed=seed))


def train_decoder(features, images, image_size, *, epochs=10, batch_size=64, lr=1e-3, seed=0, perceptual=None,
                  verbose=0):
  """A decoder from ``features`` to ``images`` (uint8), Euclidean loss (+ ``perceptual``: a fixed
  Keras model whose outputs on the reconstruction and the photo are also compared).
  Stops at the first NaN loss (a diverging learning rate is an error, not a figure)."""
  import keras
  from dpfe_tf.training import callbacks
  keras.utils.set_random_seed(seed)
  features = np.asarray(features, np.float32)
  decoder = build_decoder(features.shape[1:], image_size)
  model = decoder if perceptual is None else _with_perceptual(decoder, perceptual)
  compiled.compile_built(model, keras.optimizers.Adam(lr), "mse")
  target = np.asarray(images, np.float32) / 255.0
  guard = callbacks.StopOnNaN()
  hist = model.fit(features, target, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
                   callbacks=[guard])
  if guard.where is not None:
    raise callbacks.TrainingDiverged(f"the decoder's loss became NaN/inf at epoch {guard.where[0]}, batch "
                                     f"{guard.where[1]}: lower the learning rate")
  return decoder, hist.history


def _with_perceptual(decoder, feature_net, weight=1.0):
  """The decoder trained on pixels plus ``weight`` x the squared difference in ``feature_net``."""
  import keras

  class Perceptual(keras.Model):
    def __init__(self):
      super().__init__()
      self.decoder, self.net = decoder, feature_net
      self.net.trainable = False

    def call(self, x, training=False):
      return self.decoder(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
      import tensorflow as tf
      pixels = tf.reduce_mean(tf.square(y_pred - y))
      a, b = self.net(y_pred * 255.0, training=False), self.net(y * 255.0, training=False)
      return pixels + weight * tf.reduce_mean(tf.square(a - b)) / (tf.reduce_mean(tf.square(b)) + 1e-6)
  return Perceptual()


GALLERIES = ("reconstructions", "photos")


class ReconstructionAttacker(base.Attacker):
  """``gallery``: what each probe's reconstruction is matched against -- ``reconstructions`` (the
  default: the gallery photos pushed through the public extractor and the same decoder, so both
  sides carry the decoder's blur; the stronger on CelebA, docs/results.md) or the real ``photos``."""
  name = "reconstruction"
  summary = "decoder from the feature to the image (trained on public people), face recogniser on the result"
  needs = ("public_features", "public_images", "photos")

  def __init__(self, noise_levels=(0.0,), epochs=10, perceptual=None, gallery="reconstructions"):
    if gallery not in GALLERIES:
      raise ValueError(f"the reconstruction attacker matches against {' or '.join(GALLERIES)}, not {gallery!r}")
    self.noise_levels = tuple(noise_levels)
    self.epochs = epochs
    self.perceptual = perceptual
    self.gallery = gallery
    self._emb = self._found = None

  def runs_at(self, noise):
    return any(abs(noise - r) < 1e-12 for r in self.noise_levels)

  def prepare(self, data, folds):
    from dpfe_tf.privacy import face
    size = tuple(data.public_images.shape[1:3])
    decoder, _ = train_decoder(data.public_features, data.public_images, size, epochs=self.epochs, seed=data.seed,
                               perceptual=self.perceptual)
    recon = decoder.predict(np.asarray(data.features, np.float32), batch_size=128, verbose=0) * 255.0
    self._emb, self._found = face.embed_parallel(np.clip(recon, 0, 255).astype(np.uint8),
                                                 title=f"  reconstruction attacker: embedding {len(recon)} reconstructions")

  def scores(self, data, gallery, probe):
    reference = self._emb[gallery] if self.gallery == "reconstructions" else data.photos[gallery]
    classes, sc = base.by_identity(base.sq_distances(self._emb[probe], reference), data.identities[gallery])
    return classes, sc, {"faces_found_in_reconstructions": float(self._found.mean()), "gallery": self.gallery}
