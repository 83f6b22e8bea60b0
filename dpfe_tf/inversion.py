"""What the features leak to a reconstruction attacker (paper Section 6.3, Figure 10).

A decoder (Dosovitskiy & Brox) learns to invert what the phone sends: the original model's
raw cut at a layer, or the Simple/DPFE private feature. The reference used fully connected
layers (4096 x 4), a reshape to 256 x 4 x 4, stride-2 deconvolutions and a crop to 218x178,
with a Euclidean loss; ``build_decoder`` scales that to the image size in use.

The attack is measured, not only pictured: pixel fidelity (PSNR, SSIM) on test identities,
and **re-identification**: reconstructions and real gallery photos of the test identities are
embedded with a fixed identity-sensitive embedding (the original MOON's penultimate
features: the L2-normalised max and average pools of conv8, 2000-d) and matched to the
nearest gallery photo; top-1 accuracy and log-rank privacy of that matching say whether a
person can be recognised from what the phone sends.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dpfe_tf.privacy import measures

EMBEDDING_LAYER = "pool_concat"


def decoder_geometry(image_size, start_height=4):
  """Number of stride-2 upsamplings, the start map (h0, w0) and the crop to the image size."""
  h, w = image_size
  n_up = max(1, int(round(math.log2(h / start_height))))
  h0, w0 = math.ceil(h / 2 ** n_up), math.ceil(w / 2 ** n_up)
  dh, dw = h0 * 2 ** n_up - h, w0 * 2 ** n_up - w
  return n_up, (h0, w0), ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2))


def build_decoder(input_shape, image_size, fc_units=None, fc_layers=2, channels=256, K=None):
  """features (any shape) -> image (H, W, 3) in 0..1.

  ``fc_units`` defaults to 4096 at 218x178 (the reference) scaled with the image area, at
  least 512; channels halve at each upsampling (at least 16).
  """
  import keras
  K = K or keras
  h, w = image_size
  if fc_units is None:
    fc_units = max(512, int(4096 * h * w / (218 * 178)) // 64 * 64)
  n_up, (h0, w0), crop = decoder_geometry(image_size)
  inp = K.Input(tuple(input_shape), name="sent")
  x = K.layers.Flatten(name="flatten")(inp) if len(input_shape) > 1 else inp
  for i in range(fc_layers):
    x = K.layers.Dense(fc_units, name=f"fc{i + 1}")(x)
    x = K.layers.LeakyReLU(negative_slope=0.2, name=f"fc{i + 1}_relu")(x)
  x = K.layers.Dense(h0 * w0 * channels, name="fc_map")(x)
  x = K.layers.LeakyReLU(negative_slope=0.2, name="fc_map_relu")(x)
  x = K.layers.Reshape((h0, w0, channels), name="map")(x)
  c = channels
  for i in range(n_up):
    c = max(16, c // 2)
    x = K.layers.Conv2DTranspose(c, 4, strides=2, padding="same", name=f"deconv{i + 1}")(x)
    x = K.layers.LeakyReLU(negative_slope=0.2, name=f"deconv{i + 1}_relu")(x)
  x = K.layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="rgb")(x)
  x = K.layers.Cropping2D(crop, name="crop")(x)
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


def reidentify(probe_embeddings, gallery_embeddings, probe_ids, gallery_ids) -> Reidentification:
  """Nearest-gallery matching: each identity scored by its closest gallery embedding."""
  p = np.asarray(probe_embeddings, np.float64)
  g = np.asarray(gallery_embeddings, np.float64)
  gy = np.asarray(gallery_ids)
  classes = np.unique(gy)
  d2 = (p * p).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2 * p @ g.T
  scores = np.stack([-d2[:, gy == c].min(1) for c in classes], axis=1)
  true_col = np.searchsorted(classes, np.asarray(probe_ids))
  if not np.all(classes[np.clip(true_col, 0, len(classes) - 1)] == np.asarray(probe_ids)):
    raise ValueError("every probe identity needs gallery photos")
  ranks = measures.true_ranks(scores, true_col)
  K = len(classes)
  return Reidentification(float((ranks == 1).mean()), measures.log_rank_privacy(ranks, K),
                          measures.random_references(K)[0], K, len(p))


def embedding(original):
  """The fixed identity-sensitive embedding: the original MOON up to its pooled 2000-d features."""
  import keras
  return keras.Model(original.input, original.get_layer(EMBEDDING_LAYER).output)


def reidentification_split(identities, seed=0, min_images=2):
  """Gallery: real photos; probes: the other photos (10%, every one once over the folds)."""
  y = np.asarray(identities)
  return [measures.attacker_split(y, min_images - 1, 0.1, seed, k) for k in range(10)]


def reidentify_rotated(embed_reconstructions, embed_real, identities, seed=0) -> Reidentification:
  """Every test photo is a probe once (as its reconstruction), against the others' real photos."""
  y = np.asarray(identities)
  tops, lrps, n, K = [], [], 0, None
  for split in reidentification_split(y, seed):
    r = reidentify(embed_reconstructions[split.probe], embed_real[split.gallery], y[split.probe], y[split.gallery])
    tops.append(r.top1_accuracy * r.n_probe)
    lrps.append(r.log_rank_privacy * r.n_probe)
    n += r.n_probe
    K = r.K
  return Reidentification(sum(tops) / n, sum(lrps) / n, measures.random_references(K)[0], K, n)
