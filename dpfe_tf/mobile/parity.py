"""How much a TFLite extractor changes what the cloud sees: features, accuracy, privacy."""

from __future__ import annotations

import numpy as np

from dpfe_tf.data.attributes import attribute_accuracy
from dpfe_tf.privacy import measures


def privacy_or_reason(features, identities, min_images, seed=0):
  """(the KDE attacker's PrivacyResult, None) or (None, why it could not be measured)."""
  from dpfe_tf.privacy.attackers.base import AttackData
  from dpfe_tf.privacy.attackers.kde import KDEAttacker
  try:
    kept = measures.kept_indices(identities, min_images)
    data = AttackData(np.asarray(features)[kept], np.asarray(identities)[kept], seed)
    return measures.pooled(KDEAttacker(), data, measures.splits(data.identities, min_images, seed=seed,
                                                                 rotate=False)), None
  except ValueError as e:
    return None, str(e)


def parity(tflite_features, keras_features, predictor, *, labels, attribute_names, identities,
           min_images=measures.DEFAULT_MIN_IMAGES, seed=0) -> dict:
  """Max |TFLite - Keras| on the private feature, and the change in accuracy and log-rank privacy.

  Accuracy: the cloud predictor on each set of features, mean over the attribute set.
  Privacy: KDE log-rank privacy at noise 0 (None when too few identities for the attacker).
  """
  t = np.asarray(tflite_features, np.float32)
  k = np.asarray(keras_features, np.float32)
  diff = np.abs(t - k)
  acc_k = attribute_accuracy(predictor(k), labels, attribute_names)["mean_accuracy"]
  acc_t = attribute_accuracy(predictor(t), labels, attribute_names)["mean_accuracy"]
  pk, why_k = privacy_or_reason(k, identities, min_images, seed)
  pt, why_t = privacy_or_reason(t, identities, min_images, seed)
  missing = None if pk and pt else (f"Keras features: {why_k}" if why_k else f"TFLite features: {why_t}")
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
      "log_rank_privacy_missing": missing,
  }
