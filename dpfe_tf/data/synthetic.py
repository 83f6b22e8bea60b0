"""The embedded demo data: synthetic faces written in CelebA's own layout.

A demo that behaves like faces *for this question*, not evidence about faces (report real
figures on CelebA). Built so that identity is recoverable but not trivially, as on real photos:

- **Identity** is a point in a space of many subtle, continuous traits: face width, height and
  jaw, skin tone, eye spacing, height and size, iris colour, brow thickness, tilt and height,
  nose length and width, lip thickness, mouth width, hair colour, length, volume and parting,
  cheek colour, a mole, a slight asymmetry. No trait alone names a person.
- **Within-person variation is strong**: every image draws its own pose (shift, scale, roll and
  a yaw that narrows one side), light (direction, intensity, colour temperature), expression
  (smiling, mouth open), accessories (glasses, hat), background (colour and gradient), blur
  and sensor noise. The background is never an identity trait.
- **Men are 42% of every partition**, spread over the people's image counts, so the evaluated
  people (those with the most images) are mixed too.
- **Some identity traits go with the primary attributes**, as in real faces: men have wider
  faces, thicker brows, shorter hair and sometimes a beard; older people have greyer hair and
  wrinkles; Big_Nose and Big_Lips are the top of continuous traits.
- **Hundreds of people** (default 240: 180 to train on with 6 to 26 images each; 30 validation and 30
  test people with 16 to 24, as the people an attacker studies), so identification is hard by chance.
- Make-up, bangs and a mole show in some of a person's photos only; hair catches the light
  differently in each.

The attributes follow what is drawn: fixed per identity (Male, Young, hair colour, Big_Nose,
Big_Lips, Pale_Skin, Bangs, beard, lipstick...) or per image (Smiling, Mouth_Slightly_Open,
Eyeglasses, Wearing_Hat). Undrawn attributes are -1. The folder is generated once
(deterministic in the seed) and then read by the same CelebA reader as real data.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dpfe_tf import io_utils
from dpfe_tf.data import celeba
from dpfe_tf.data.attributes import CELEBA_ATTRIBUTES

#: Drawn at half CelebA's aligned size (109 x 89): the drawings have no finer detail, and half the
#: side is a quarter of the drawing time. The reader resizes to any --image_size.
H, W = 109, 89
HAIR_COLOURS = {"Black_Hair": (30, 24, 22), "Blond_Hair": (205, 170, 100), "Brown_Hair": (110, 70, 40),
                "Gray_Hair": (165, 165, 160)}


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  identities: int = 240
  min_images: int = 6              # images per training identity: uniform in [min_images, max_images]
  max_images: int = 26
  val_identities: int = 30
  test_identities: int = 30
  eval_images: tuple = (16, 24)    # images per validation / test identity (the attacker keeps those with > 18)
  seed: int = 0
  version: int = 5                 # 5: men spread over every partition and over the image counts
  identity_strength: float = 0.2   # scales how far apart people are (calibration knob)

  @property
  def name(self):
    return (f"synthetic-faces-v{self.version}-{self.identities}x{self.min_images}-{self.max_images}"
            f"-v{self.val_identities}-t{self.test_identities}-e{self.eval_images[0]}-{self.eval_images[1]}-s{self.seed}"
            + f"-k{self.identity_strength:g}")


def default_dir(spec: SyntheticSpec = SyntheticSpec()):
  return os.path.join(celeba.default_cache_dir(), spec.name)


#: The share of men in every partition (CelebA's share of Male images).
MALE_SHARE = 0.42


def _who_is_male(partition, counts, rng, share: float = MALE_SHARE) -> np.ndarray:
  """A ``share`` of each partition's people are men, spread evenly over the people sorted by their
  number of images (ties at random): so the people an attacker studies (those with the most images)
  are as mixed as the rest, and the primary attribute of the demo's evaluation is not nearly constant
  by the luck of a draw (version 4's 20 evaluated test people had 2 men)."""
  male = np.zeros(len(partition), bool)
  for p in np.unique(partition):
    people = np.flatnonzero(partition == p)
    people = people[np.lexsort((rng.random(len(people)), counts[people]))]
    i, offset = np.arange(len(people)), rng.random()
    male[people] = np.floor((i + 1) * share + offset) > np.floor(i * share + offset)
  return male


def _identity_traits(rng, male: bool, k=1.0):
  """A person: continuous traits (scaled by ``k`` around the population mean) and fixed attributes."""
  young = rng.random() < 0.75
  u = lambda lo, hi: (lo + hi) / 2 + k * (rng.uniform(lo, hi) - (lo + hi) / 2)  # noqa: E731
  hair_name = ("Gray_Hair" if not young and rng.random() < 0.6 else
               rng.choice(["Black_Hair", "Brown_Hair", "Blond_Hair"], p=[0.45, 0.35, 0.2]))
  # Hair colours are labelled by class but overlap, as in photos: each class's colour is pulled halfway
  # to a common brown, and a person's shade within it is a continuous trait.
  hair = 0.5 * np.array(HAIR_COLOURS[hair_name], float) + 0.5 * np.array((110, 75, 45)) + k * rng.normal(0, 30, 3)
  pale = rng.random() < 0.15
  tone = u(0.5, 1.0)
  skin = np.array([226, 192, 164]) * tone + k * rng.normal(0, 7, 3)
  if pale:
    skin = np.array([242, 226, 212]) + k * rng.normal(0, 5, 3)
  nose_len, lip = u(0.05, 0.12), u(0.007, 0.02)
  return dict(
      male=male, young=young, hair_name=hair_name, hair=np.clip(hair, 0, 255), pale=pale,
      skin=np.clip(skin, 0, 255), face_w=u(0.25, 0.33) * (1.08 if male else 1.0), face_h=u(0.30, 0.37),
      jaw=u(0.0, 0.35) + (0.15 if male else 0.0), eye_dx=u(0.09, 0.14), eye_y=u(-0.09, -0.03),
      eye_r=u(0.022, 0.036), iris=np.clip(np.array([90, 80, 60]) + k * rng.normal(0, 45, 3), 0, 255),
      brow_t=u(0.006, 0.014) * (1.5 if male else 1.0), brow_tilt=u(-0.03, 0.03), brow_h=u(1.4, 1.9),
      nose_len=nose_len, nose_w=u(0.018, 0.034), big_nose=nose_len > 0.1, lip=lip, big_lips=lip > 0.016,
      mouth_w=u(0.08, 0.13), hair_len=u(0.0, 0.25) if male else u(0.12, 0.32), hair_vol=u(0.02, 0.07),
      parting=u(-0.1, 0.1), bangs=rng.random() < 0.25, beard=male and rng.random() < 0.35,
      lipstick=(not male) and rng.random() < 0.55, cheek=u(0, 35), asym=u(-0.015, 0.015),
      mole=(u(-0.2, 0.2), u(-0.05, 0.2)) if rng.random() < 0.4 else None,
      wrinkles=0 if young else int(rng.integers(1, 4)))


def _today(t, rng):
  """The person as they look in this photo: make-up, bangs and a mole are not always visible, hair
  catches the light differently (the labels stay the person's)."""
  return {**t, "lipstick": t["lipstick"] and rng.random() < 0.75, "bangs": (rng.random() < 0.8) == t["bangs"],
          "mole": t["mole"] if rng.random() < 0.6 else None, "hair": t["hair"] * rng.uniform(0.7, 1.3)}


def _ellipse(yy, xx, cy, cx, ry, rx):
  return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _coords(rng):
  """Image coordinates under this image's pose: shift, scale, roll and a yaw squeeze."""
  s = rng.uniform(0.85, 1.15)
  oy, ox = rng.normal(0, 0.045, 2)
  roll = rng.normal(0, 0.12)
  yaw = rng.normal(0, 0.2)
  yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
  yy = (yy / H - 0.5 - oy) / s
  xx = (xx / W - 0.5 - ox) / s * (W / H)
  yy, xx = np.cos(roll) * yy - np.sin(roll) * xx, np.sin(roll) * yy + np.cos(roll) * xx
  xx = xx * (1 + yaw * np.sign(xx))  # one side of the face narrower: turned head
  return yy, xx


def render(t, rng):
  """One face of identity traits ``t``; returns (uint8 image, per-image attributes)."""
  t = _today(t, rng)
  smiling = rng.random() < 0.5
  mouth_open = rng.random() < (0.6 if smiling else 0.25)
  glasses = rng.random() < 0.15
  hat = rng.random() < 0.1
  yy, xx = _coords(rng)
  img = np.empty((H, W, 3), np.float32)
  bg = rng.uniform(30, 230, 3)
  img[:] = bg * (0.8 + 0.4 * rng.random() * (yy[..., None] + 0.5)) + rng.normal(0, 10, 3) * xx[..., None]
  hair = t["hair"]
  fw, fh = t["face_w"], t["face_h"]
  if t["hair_len"] > 0.08:
    img[_ellipse(yy, xx, 0.05 + t["hair_len"] / 3, t["parting"] * 0.2, fh + t["hair_len"], fw + t["hair_vol"] + 0.03)
        & (yy > -0.42)] = hair
  img[_ellipse(yy, xx, -0.06, t["parting"] * 0.1, fh + t["hair_vol"], fw + t["hair_vol"])] = hair
  face = _ellipse(yy, xx, 0.03, t["asym"], fh, fw) & ~((yy > 0.03 + fh * 0.5) & (np.abs(xx) > fw * (1 - t["jaw"])))
  light = np.clip(1.0 + rng.uniform(-0.5, 0.5) * np.clip(xx / fw, -1, 1) + rng.uniform(-0.2, 0.2) * yy / fh,
                  0.35, 1.7)[..., None]
  img[face] = (t["skin"] * light)[face]
  if t["cheek"] > 5:
    for sx in (-1, 1):
      m = _ellipse(yy, xx, 0.1, sx * fw * 0.6, 0.05, 0.05) & face
      img[m] += np.array([t["cheek"], -t["cheek"] / 3, -t["cheek"] / 3])
  top = 0.03 - fh
  cap = yy < top + (0.15 if t["bangs"] else 0.06) + 0.02 * np.cos(xx * 30 + t["parting"] * 20)
  img[face & cap] = hair
  if t["beard"]:
    img[face & (yy > 0.14)] = img[face & (yy > 0.14)] * 0.5 + hair * 0.3
  for k in range(t["wrinkles"]):
    m = face & (np.abs(yy - (top + 0.12 + 0.025 * k)) < 0.004) & (np.abs(xx) < fw * 0.5)
    img[m] *= 0.72
  if t["mole"] is not None:
    img[_ellipse(yy, xx, t["mole"][1], t["mole"][0] * fw, 0.01, 0.01)] = (70, 45, 35)
  _eyes(img, (yy, xx), t, hair, glasses)
  depth = rng.uniform(0.03, 0.06) if smiling else rng.uniform(-0.01, 0.01)  # how far the mouth curves
  _nose_mouth(img, (yy, xx), t, light, (smiling, mouth_open, depth))
  if hat:
    img[(yy < top + 0.06) & (yy > top - 0.12) & (np.abs(xx) < fw + 0.05)] = rng.uniform(0, 255, 3)
  _camera(img, rng)
  per_image = {"Smiling": smiling, "Mouth_Slightly_Open": mouth_open, "Eyeglasses": glasses, "Wearing_Hat": hat}
  return np.clip(img, 0, 255).astype(np.uint8), per_image


def _eyes(img, grid, t, hair, glasses):
  yy, xx = grid
  for sx in (-1, 1):
    ex, ey, er = sx * t["eye_dx"] + t["asym"], t["eye_y"], t["eye_r"]
    img[_ellipse(yy, xx, ey, ex, er * 0.7, er * 1.5)] = (240, 240, 240)
    img[_ellipse(yy, xx, ey, ex, er * 0.65, er * 0.65)] = t["iris"]
    img[_ellipse(yy, xx, ey, ex, er * 0.3, er * 0.3)] = (10, 10, 10)
    by = ey - er * t["brow_h"] + sx * t["brow_tilt"] * (xx - ex) * 3
    img[(np.abs(yy - by) < t["brow_t"]) & (np.abs(xx - ex) < er * 1.9)] = hair * 0.6
    if glasses:
      ring = _ellipse(yy, xx, ey, ex, er * 2.0, er * 2.4) & ~_ellipse(yy, xx, ey, ex, er * 1.7, er * 2.1)
      img[ring] = (20, 20, 20)
  if glasses:
    img[(np.abs(yy - t["eye_y"]) < 0.006) & (np.abs(xx - t["asym"]) < t["eye_dx"] - t["eye_r"] * 2)] = (20, 20, 20)


def _nose_mouth(img, grid, t, light, expression):
  yy, xx = grid
  smiling, mouth_open, depth = expression
  n = ((yy > t["eye_y"] + 0.02) & (yy < t["eye_y"] + 0.02 + t["nose_len"]) &
       (np.abs(xx - t["asym"]) < t["nose_w"] * (yy - t["eye_y"]) / (t["nose_len"] + 0.02)))
  img[n] = (t["skin"] * light * 0.75)[n]
  my, mw = t["eye_y"] + 0.2, t["mouth_w"] * (1.2 if smiling else 1.0)
  curve = depth * (1 - (xx / mw) ** 2)
  lip_c = np.array((185, 35, 55)) if t["lipstick"] else t["skin"] * np.array((0.8, 0.55, 0.55))
  mouth_x = np.abs(xx - t["asym"]) < mw
  if mouth_open:
    img[mouth_x & (yy > my + curve - 0.012) & (yy < my + curve + 0.03 - (xx / mw) ** 2 * 0.025)] = (50, 10, 15)
  img[mouth_x & (np.abs(yy - (my + curve)) < t["lip"])] = lip_c


def _camera(img, rng):
  """Exposure, white balance, sometimes a little blur, sensor noise (in place)."""
  img *= rng.uniform(0.6, 1.35) + rng.normal(0, 0.1, 3)
  if rng.random() < 0.3:
    img[:] = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1) + np.roll(img, -1, 0) + np.roll(img, -1, 1)) / 5
  img += rng.normal(0, rng.uniform(3, 10), img.shape)


def _labels(t, per_image):
  on = {"Male": t["male"], "Young": t["young"], t["hair_name"]: True, "Big_Nose": t["big_nose"],
        "Big_Lips": t["big_lips"], "Pale_Skin": t["pale"], "Bangs": t["bangs"], "No_Beard": not t["beard"],
        "Goatee": t["beard"], "Wearing_Lipstick": t["lipstick"],
        "Heavy_Makeup": t["lipstick"] and t["cheek"] > 20, "Rosy_Cheeks": t["cheek"] > 20, **per_image}
  return [1 if on.get(a, False) else -1 for a in CELEBA_ATTRIBUTES]


def generate(out_dir, spec: SyntheticSpec = SyntheticSpec()) -> str:
  """Writes the dataset in CelebA layout into ``out_dir`` (skips if complete). Returns it."""
  from PIL import Image
  done = os.path.join(out_dir, ".complete")
  if os.path.isfile(done):
    return out_dir
  if spec.val_identities + spec.test_identities >= spec.identities:
    raise ValueError("synthetic spec: need more identities than val + test")
  if not 2 <= spec.min_images <= spec.max_images:
    raise ValueError("synthetic spec: need 2 <= min_images <= max_images")
  img_dir = os.path.join(out_dir, celeba.IMAGE_DIR)
  os.makedirs(img_dir, exist_ok=True)
  rng = np.random.default_rng(spec.seed)
  order = rng.permutation(spec.identities)
  partition = np.zeros(spec.identities, int)
  partition[order[:spec.val_identities]] = 1
  partition[order[spec.val_identities:spec.val_identities + spec.test_identities]] = 2
  lo, hi = np.where(partition == 0, spec.min_images, spec.eval_images[0]), \
      np.where(partition == 0, spec.max_images, spec.eval_images[1])
  counts = rng.integers(lo, hi + 1)
  male = _who_is_male(partition, counts, rng)
  n = int(counts.sum())
  attr_rows, id_rows, part_rows = [], [], []
  bar = io_utils.progress(n, f"generating the embedded demo faces ({spec.identities} people, {n} images) in {out_dir}")
  k = 0
  for ident in range(spec.identities):
    traits = _identity_traits(rng, bool(male[ident]), spec.identity_strength)
    for _ in range(counts[ident]):
      k += 1
      name = f"{k:06d}.jpg"
      img, per_image = render(traits, rng)
      # Each file appears whole (two first runs at once write the same bytes; neither reads a half file).
      with io_utils.atomic_path(os.path.join(img_dir, name)) as tmp:
        Image.fromarray(img).save(tmp, format="JPEG", quality=90)
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
