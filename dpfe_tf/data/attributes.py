"""CelebA's 40 attributes, the paper's attribute sets (G, GA, GAS, GASL, GASLN) and accuracy on them."""

from __future__ import annotations

import numpy as np

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young")

#: The paper's sets: Gender, Age, Smiling, big Lips, big Nose.
ATTRIBUTE_SETS: dict[str, tuple[str, ...]] = {
    "G": ("Male",),
    "GA": ("Male", "Young"),
    "GAS": ("Male", "Young", "Smiling"),
    "GASL": ("Male", "Young", "Smiling", "Big_Lips"),
    "GASLN": ("Male", "Young", "Smiling", "Big_Lips", "Big_Nose"),
    "ALL": CELEBA_ATTRIBUTES,
}


def resolve_attributes(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
  """A set name (G, GA, GAS, GASL, GASLN, ALL) or a comma list of CelebA attribute names."""
  if isinstance(spec, str):
    key = spec.strip()
    if key.upper() in ATTRIBUTE_SETS:
      return ATTRIBUTE_SETS[key.upper()]
    names = [s.strip() for s in key.split(",") if s.strip()]
  else:
    names = list(spec)
  if not names:
    raise ValueError("empty attribute set")
  lookup = {a.lower(): a for a in CELEBA_ATTRIBUTES}
  out = []
  for n in names:
    if n.lower() not in lookup:
      raise ValueError(
          f"unknown attribute {n!r}; use a set ({', '.join(ATTRIBUTE_SETS)}) or CelebA names: "
          + ", ".join(CELEBA_ATTRIBUTES))
    canonical = lookup[n.lower()]
    if canonical in out:
      raise ValueError(f"attribute {canonical!r} listed twice")
    out.append(canonical)
  return tuple(out)


def attribute_indices(names) -> list[int]:
  return [CELEBA_ATTRIBUTES.index(n) for n in names]


def set_name(names) -> str:
  """The paper's short name of a set when it is one, else the comma list."""
  for k, v in ATTRIBUTE_SETS.items():
    if tuple(names) == v:
      return k
  return ",".join(names)


def attribute_accuracy(logits, labels, names) -> dict:
  """Per-attribute accuracy of ``logits > 0`` against {0,1} ``labels``, their mean, and chance.

  "chance" is the majority-class rate of each attribute on these labels: what a
  constant guess scores, the floor a useful classifier must clear.
  """
  logits = np.asarray(logits)
  labels = np.asarray(labels)
  if logits.shape != labels.shape or logits.ndim != 2 or logits.shape[1] != len(names):
    raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not match {len(names)} attributes")
  acc = ((logits > 0) == (labels > 0.5)).mean(axis=0)
  pos = (labels > 0.5).mean(axis=0)
  chance = np.maximum(pos, 1 - pos)
  return {
      "attributes": list(names),
      "accuracy": {n: float(a) for n, a in zip(names, acc)},
      "chance": {n: float(c) for n, c in zip(names, chance)},
      "mean_accuracy": float(acc.mean()),
      "mean_chance": float(chance.mean()),
      "num_images": int(len(labels)),
  }


def correct_per_image(logits, labels) -> np.ndarray:
  """Fraction of the attributes each image gets right (the unit the bootstrap resamples)."""
  return ((np.asarray(logits) > 0) == (np.asarray(labels) > 0.5)).mean(axis=1)
