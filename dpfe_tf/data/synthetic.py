"""The embedded default dataset: synthetic faces written in CelebA's own layout.

A demo, not evidence. Each identity is a persistent set of visual traits (face shape,
skin tone, eye spacing and colour, brow shape, nose length, lip thickness, hair colour
and style, gender and age cues, background hue); each image varies expression (smiling,
mouth open), accessories (glasses, hat), pose (shift, scale), lighting and noise. The
labelled attributes follow what is drawn: some are fixed per identity (Male, Young,
hair colour, Big_Nose, Big_Lips, Pale_Skin, Bangs...), some vary per image (Smiling,
Mouth_Slightly_Open, Eyeglasses, Wearing_Hat). Attributes that are not drawn are -1.

The folder is generated once (deterministic in the seed) and then read by the same
CelebA reader as real data, so the whole pipeline runs on a machine with no data.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dpfe_tf import io_utils
from dpfe_tf.data import celeba
from dpfe_tf.data.attributes import CELEBA_ATTRIBUTES

H, W = 218, 178
HAIR_COLOURS = {"Black_Hair": (25, 20, 18), "Blond_Hair": (215, 180, 105),
                "Brown_Hair": (105, 65, 35), "Gray_Hair": (165, 165, 160)}


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  identities: int = 150
  images_per_identity: int = 20
  val_identities: int = 20
  test_identities: int = 30
  seed: int = 0
  version: int = 1

  @property
  def name(self):
    return (f"synthetic-faces-v{self.version}-{self.identities}x{self.images_per_identity}"
            f"-v{self.val_identities}-t{self.test_identities}-s{self.seed}")


def default_dir(spec: SyntheticSpec = SyntheticSpec()):
  return os.path.join(celeba.default_cache_dir(), spec.name)


def _identity_traits(rng):
  male = rng.random() < 0.45
  young = rng.random() < 0.7
  hair = rng.choice(["Black_Hair", "Blond_Hair", "Brown_Hair"]) if young or rng.random() < 0.3 \
      else "Gray_Hair"
  pale = rng.random() < 0.2
  skin = np.array([225, 190, 160]) * rng.uniform(0.55, 1.0) + rng.normal(0, 8, 3)
  if pale:
    skin = np.array([245, 228, 215]) + rng.normal(0, 5, 3)
  return dict(
      male=male, young=young, hair=hair, pale=pale, skin=np.clip(skin, 0, 255),
      face_w=rng.uniform(0.26, 0.36) * (1.08 if male else 1.0), face_h=rng.uniform(0.30, 0.38),
      eye_dx=rng.uniform(0.09, 0.15), eye_y=rng.uniform(-0.09, -0.03), eye_r=rng.uniform(0.022, 0.04),
      iris=rng.uniform(20, 160, 3), brow_t=rng.uniform(0.006, 0.02) * (1.6 if male else 1.0),
      brow_tilt=rng.uniform(-0.03, 0.03), big_nose=rng.random() < 0.3, big_lips=rng.random() < 0.3,
      mouth_w=rng.uniform(0.08, 0.14), hair_long=(not male) and rng.random() < 0.85,
      bangs=rng.random() < 0.3, beard=male and rng.random() < 0.4,
      lipstick=(not male) and rng.random() < 0.6, bg=rng.uniform(40, 230, 3),
      cheek=rng.uniform(0, 40), mole=(rng.uniform(-0.2, 0.2), rng.uniform(-0.05, 0.2)) if rng.random() < 0.5 else None)


def _ellipse(yy, xx, cy, cx, ry, rx):
  return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def render(t, rng):
  """One 218x178 face of identity traits ``t``; returns (uint8 image, per-image attributes)."""
  smiling = rng.random() < 0.5
  mouth_open = rng.random() < (0.6 if smiling else 0.25)
  glasses = rng.random() < 0.2
  hat = rng.random() < 0.1
  s = rng.uniform(0.93, 1.07)
  oy, ox = rng.normal(0, 0.025, 2)
  yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
  yy = (yy / H - 0.5 - oy) / s
  xx = (xx / W - 0.5 - ox) / s * (W / H)
  img = np.empty((H, W, 3), np.float32)
  img[:] = t["bg"] * (0.85 + 0.3 * (yy[..., None] + 0.5))
  hair_c = np.array(HAIR_COLOURS[t["hair"]], np.float32)
  fw, fh = t["face_w"], t["face_h"]
  if t["hair_long"]:
    img[_ellipse(yy, xx, 0.08, 0, fh + 0.18, fw + 0.08) & (yy > -0.4)] = hair_c
  img[_ellipse(yy, xx, -0.06, 0, fh + 0.04, fw + 0.04)] = hair_c
  face = _ellipse(yy, xx, 0.03, 0, fh, fw)
  shade = 1.0 - 0.25 * np.clip(xx / fw, -1, 1)[..., None] * rng.uniform(-1, 1)
  img[face] = (t["skin"] * shade)[face]
  if t["cheek"] > 0:
    for sx in (-1, 1):
      m = _ellipse(yy, xx, 0.1, sx * fw * 0.6, 0.05, 0.05) & face
      img[m] += np.array([t["cheek"], -t["cheek"] / 3, -t["cheek"] / 3])
  top = 0.03 - fh
  cap = yy < top + (0.16 if t["bangs"] else 0.07) + 0.02 * np.cos(xx * 30)
  img[face & cap] = hair_c
  if t["beard"]:
    img[face & (yy > 0.15)] = img[face & (yy > 0.15)] * 0.45 + hair_c * 0.25
  if not t["young"]:
    for k in range(3):
      m = face & (np.abs(yy - (top + 0.12 + 0.025 * k)) < 0.004) & (np.abs(xx) < fw * 0.5)
      img[m] *= 0.7
  if t["mole"] is not None:
    img[_ellipse(yy, xx, t["mole"][1], t["mole"][0] * fw, 0.012, 0.012)] = (60, 40, 30)
  for sx in (-1, 1):
    ex, ey, er = sx * t["eye_dx"], t["eye_y"], t["eye_r"]
    img[_ellipse(yy, xx, ey, ex, er * 0.7, er * 1.5)] = (245, 245, 245)
    img[_ellipse(yy, xx, ey, ex, er * 0.65, er * 0.65)] = t["iris"]
    img[_ellipse(yy, xx, ey, ex, er * 0.3, er * 0.3)] = (10, 10, 10)
    by = ey - er * 1.6 + sx * t["brow_tilt"] * (xx - ex) * 3
    img[(np.abs(yy - by) < t["brow_t"]) & (np.abs(xx - ex) < er * 1.9)] = hair_c * 0.7
    if glasses:
      ring = _ellipse(yy, xx, ey, ex, er * 2.0, er * 2.4) & ~_ellipse(yy, xx, ey, ex, er * 1.7, er * 2.1)
      img[ring] = (20, 20, 20)
  if glasses:
    img[(np.abs(yy - t["eye_y"]) < 0.006) & (np.abs(xx) < t["eye_dx"] - t["eye_r"] * 2)] = (20, 20, 20)
  nose_len = 0.11 if t["big_nose"] else 0.065
  nose_w = 0.035 if t["big_nose"] else 0.022
  n = (yy > t["eye_y"] + 0.02) & (yy < t["eye_y"] + 0.02 + nose_len) & \
      (np.abs(xx) < nose_w * (yy - t["eye_y"]) / (nose_len + 0.02))
  img[n] = t["skin"] * 0.72
  my, mw = t["eye_y"] + 0.2, t["mouth_w"] * (1.2 if smiling else 1.0)
  curve = (0.05 if smiling else 0.0) * (1 - (xx / mw) ** 2)
  lip_t = 0.018 if t["big_lips"] else 0.009
  lip_c = np.array((190, 30, 50)) if t["lipstick"] else t["skin"] * np.array((0.8, 0.55, 0.55))
  mouth_x = np.abs(xx) < mw
  if mouth_open:
    img[mouth_x & (yy > my + curve - 0.012) & (yy < my + curve + 0.03 - (xx / mw) ** 2 * 0.025)] = (50, 10, 15)
  img[mouth_x & (np.abs(yy - (my + curve)) < lip_t)] = lip_c
  if hat:
    img[(yy < top + 0.06) & (yy > top - 0.12) & (np.abs(xx) < fw + 0.05)] = rng.uniform(0, 255, 3)
  img *= rng.uniform(0.75, 1.2)
  img += rng.normal(0, 6, img.shape)
  per_image = {"Smiling": smiling, "Mouth_Slightly_Open": mouth_open, "Eyeglasses": glasses,
               "Wearing_Hat": hat}
  return np.clip(img, 0, 255).astype(np.uint8), per_image


def _labels(t, per_image):
  on = {"Male": t["male"], "Young": t["young"], t["hair"]: True, "Big_Nose": t["big_nose"],
        "Big_Lips": t["big_lips"], "Pale_Skin": t["pale"], "Bangs": t["bangs"],
        "No_Beard": not t["beard"], "Goatee": t["beard"], "Wearing_Lipstick": t["lipstick"],
        "Heavy_Makeup": t["lipstick"] and t["cheek"] > 20, "Rosy_Cheeks": t["cheek"] > 20,
        **per_image}
  return [1 if on.get(a, False) else -1 for a in CELEBA_ATTRIBUTES]


def generate(out_dir, spec: SyntheticSpec = SyntheticSpec()) -> str:
  """Writes the dataset in CelebA layout into ``out_dir`` (skips if complete). Returns it."""
  from PIL import Image
  done = os.path.join(out_dir, ".complete")
  if os.path.isfile(done):
    return out_dir
  if spec.val_identities + spec.test_identities >= spec.identities:
    raise ValueError("synthetic spec: need more identities than val + test")
  img_dir = os.path.join(out_dir, celeba.IMAGE_DIR)
  os.makedirs(img_dir, exist_ok=True)
  rng = np.random.default_rng(spec.seed)
  n = spec.identities * spec.images_per_identity
  attr_rows, id_rows, part_rows = [], [], []
  bar = io_utils.progress(n, f"generating the embedded synthetic face data ({n} images) in {out_dir}")
  order = rng.permutation(spec.identities)
  partition = np.zeros(spec.identities, int)
  partition[order[:spec.val_identities]] = 1
  partition[order[spec.val_identities:spec.val_identities + spec.test_identities]] = 2
  k = 0
  for ident in range(spec.identities):
    traits = _identity_traits(rng)
    for _ in range(spec.images_per_identity):
      k += 1
      name = f"{k:06d}.jpg"
      img, per_image = render(traits, rng)
      Image.fromarray(img).save(os.path.join(img_dir, name), quality=92)
      attr_rows.append(name + " " + " ".join(f"{v:2d}" for v in _labels(traits, per_image)))
      id_rows.append(f"{name} {ident + 1}")
      part_rows.append(f"{name} {partition[ident]}")
      bar.add(1)
  io_utils.write_text(os.path.join(out_dir, celeba.ATTR_FILE),
                      f"{n}\n" + " ".join(CELEBA_ATTRIBUTES) + "\n" + "\n".join(attr_rows) + "\n")
  io_utils.write_text(os.path.join(out_dir, celeba.IDENTITY_FILE), "\n".join(id_rows) + "\n")
  io_utils.write_text(os.path.join(out_dir, celeba.PARTITION_FILE), "\n".join(part_rows) + "\n")
  io_utils.write_text(done, spec.name + "\n")
  return out_dir


def ensure_default(spec: SyntheticSpec = SyntheticSpec()) -> str:
  return generate(default_dir(spec), spec)
