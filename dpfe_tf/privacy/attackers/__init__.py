"""The attackers: estimates of p(identity | private feature), one module each, one result type.

Identifying attackers rank the gallery identities for each probe (``base.Attacker``; the measures
come from ``privacy.measures.identify``):

- ``kde``: the reference code's per-identity Gaussian KDE on gallery features (the paper's measure);
- ``lda``: a Gaussian classifier with one shared covariance (gallery means, public covariance);
- ``classifier``: an MLP on the gallery features, tuned by cross-validation on the gallery;
- ``embedding``: identity embeddings learned on the public people (MLP hidden layers of three
  sizes), ``lda`` in each, log-posteriors summed: identity where it is not linear in the feature;
- ``linkage``: a regressor from the feature to a real face recogniser's embedding (dlib), trained on
  public people, matched against the gallery's real photos;
- ``reconstruction``: a decoder from the feature to the image, its output embedded by the face
  recogniser and matched against the gallery photos' own reconstructions (or the real photos).

``verification`` (same person or not, from two features) reports ROC AUC and true-accepts at 1%
false accepts beside them. The worst case for the defender over the identifying attackers is taken
in one place: ``tradeoff.TradeoffPoint.worst``.
"""

from __future__ import annotations

from dpfe_tf.privacy import face

#: Need only the gallery's features (``lda`` pools the public people's covariance when it has them).
GALLERY_ATTACKERS = ("kde", "lda", "classifier")
FEATURE_ATTACKERS = GALLERY_ATTACKERS + ("embedding",)
FACE_ATTACKERS = ("linkage", "reconstruction")
IDENTIFYING = FEATURE_ATTACKERS + FACE_ATTACKERS
VERIFICATION = "verification"
#: Cannot run without the public people's features; ``USE_PUBLIC`` also lists ``lda``, which uses them.
NEED_PUBLIC = ("embedding",) + FACE_ATTACKERS + (VERIFICATION,)
USE_PUBLIC = ("lda",) + NEED_PUBLIC
CHOICES = ("all", "feature") + IDENTIFYING + (VERIFICATION,)


def make(name, reconstruction_noise=(0.0,)):
  if name == "kde":
    from dpfe_tf.privacy.attackers.kde import KDEAttacker
    return KDEAttacker()
  if name == "lda":
    from dpfe_tf.privacy.attackers.lda import LDAAttacker
    return LDAAttacker()
  if name == "classifier":
    from dpfe_tf.privacy.attackers.classifier import ClassifierAttacker
    return ClassifierAttacker()
  if name == "embedding":
    from dpfe_tf.privacy.attackers.embedding import EmbeddingAttacker
    return EmbeddingAttacker()
  if name == "linkage":
    from dpfe_tf.privacy.attackers.linkage import LinkageAttacker
    return LinkageAttacker()
  if name == "reconstruction":
    from dpfe_tf.privacy.attackers.reconstruction import ReconstructionAttacker
    return ReconstructionAttacker(noise_levels=reconstruction_noise)
  if name == VERIFICATION:
    from dpfe_tf.privacy.attackers.verification import VerificationAttacker
    return VerificationAttacker()
  raise ValueError(f"unknown attacker {name!r}; choose from {', '.join(CHOICES)}")


def check_names(names) -> list[str]:
  """``names`` as a list, or a ValueError naming those that are not attackers (checked with the config,
  before TensorFlow starts)."""
  names = list(names)
  unknown = [n for n in names if n not in CHOICES]
  if unknown:
    raise ValueError(f"unknown attacker(s) {', '.join(unknown)}; choose from {', '.join(CHOICES)}")
  return names


def resolve(names, photos: bool) -> tuple[list[str], list[str]]:
  """(attackers to run, notes on those left out) for ``names`` (``all``, ``feature`` or attacker names).

  ``all`` is every attacker that can run: the face-recogniser ones need the ``attacks`` extra and
  real photo files (not the embedded demo's drawings). Asking for one by name when it cannot run
  is an error that says why.
  """
  names = check_names(names)
  out, notes = [], []
  for n in names:
    if n == "all":
      out += list(FEATURE_ATTACKERS) + [VERIFICATION]
      if not face.available():
        notes.append(f"linkage and reconstruction attackers not run: the face recogniser is not installed ({face.INSTALL})")
      elif not photos:
        notes.append("linkage and reconstruction attackers not run: these are not photo files (the embedded demo "
                     "faces are drawings; a face recogniser means nothing on them). Ask for them by name to force them.")
      else:
        out += list(FACE_ATTACKERS)
    elif n == "feature":
      out += list(FEATURE_ATTACKERS)
    else:
      if n in FACE_ATTACKERS:
        face.require()
      out.append(n)
  return list(dict.fromkeys(out)), notes
