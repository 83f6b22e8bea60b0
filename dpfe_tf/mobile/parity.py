"""How much a TFLite extractor changes what the cloud sees: features, accuracy, privacy."""

from __future__ import annotations

import numpy as np

from dpfe_tf import accuracy
from dpfe_tf.privacy import measures


def privacy_or_none(features, identities, min_images, seed=0, estimator="kde"):
  try:
    return measures.pooled_privacy(features, identities, estimator, min_images=min_images, seed=seed)
  except ValueError:
    return None


def parity(tflite_features, keras_features, predictor, labels, attribute_names, identities,
           min_images=measures.DEFAULT_MIN_IMAGES, seed=0) -> dict:
  """Max |TFLite - Keras| on the private feature, and the change in accuracy and log-rank privacy.

  Accuracy: the cloud predictor on each set of features, mean over the attribute set.
  Privacy: KDE log-rank privacy at noise 0 (None when too few identities for the attacker).
  """
  t = np.asarray(tflite_features, np.float32)
  k = np.asarray(keras_features, np.float32)
  diff = np.abs(t - k)
  acc_k = accuracy.attribute_accuracy(predictor(k), labels, attribute_names)["mean_accuracy"]
  acc_t = accuracy.attribute_accuracy(predictor(t), labels, attribute_names)["mean_accuracy"]
  pk = privacy_or_none(k, identities, min_images, seed)
  pt = privacy_or_none(t, identities, min_images, seed)
  return {
      "images": int(len(t)),
      "max_abs_feature_diff": float(diff.max()),
      "mean_abs_feature_diff": float(diff.mean()),
      "feature_std": float(k.std()),
      "accuracy_keras": acc_k, "accuracy_tflite": acc_t, "accuracy_change": acc_t - acc_k,
      "log_rank_privacy_keras": pk.log_rank_privacy if pk else None,
      "log_rank_privacy_tflite": pt.log_rank_privacy if pt else None,
      "log_rank_privacy_change": (pt.log_rank_privacy - pk.log_rank_privacy) if pk and pt else None,
      "privacy_K": pk.K if pk else None,
  }
