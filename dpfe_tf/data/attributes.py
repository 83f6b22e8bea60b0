"""CelebA's 40 attributes and the paper's attribute sets (G, GA, GAS, GASL, GASLN)."""

from __future__ import annotations

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
