"""CelebA in its own layout and formats, read into arrays that feed ``tf.data``.

    <data_dir>/img_align_celeba/NNNNNN.jpg   178 wide x 218 high RGB JPEG
    <data_dir>/list_attr_celeba.txt          count; 40 names; "NNNNNN.jpg" and 40 values of +1/-1
    <data_dir>/identity_CelebA.txt           "NNNNNN.jpg <identity>"
    <data_dir>/list_eval_partition.txt       "NNNNNN.jpg <0|1|2>"  train / val / test

A full CelebA download reads unchanged. Images are decoded in parallel by ``tf.data``,
resized once to the requested size and cached as a uint8 ``.npy`` (memory-mapped), so
the three training stages and later evaluations decode each image only once. Images
that fail to decode are skipped, counted and reported; too many is an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

from dpfe_tf import io_utils
from dpfe_tf.data.attributes import CELEBA_ATTRIBUTES

ATTR_FILE = "list_attr_celeba.txt"
IDENTITY_FILE = "identity_CelebA.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
SPLITS = {"train": 0, "val": 1, "validation": 1, "test": 2}
CACHE_VERSION = 2


class DataError(ValueError):
  """Missing, malformed or unusable data, with the file and line when there is one."""


@dataclasses.dataclass
class Annotations:
  filenames: list[str]
  attributes: np.ndarray   # (N, 40) int8 in {0, 1}
  identities: np.ndarray   # (N,) int64
  partitions: np.ndarray   # (N,) int8 in {0, 1, 2}


@dataclasses.dataclass
class FaceData:
  """Images (uint8, N x H x W x 3, possibly memory-mapped), 40 attributes, identities."""
  images: np.ndarray
  attributes: np.ndarray
  identities: np.ndarray
  filenames: list[str]
  skipped: list[str] = dataclasses.field(default_factory=list)
  data_dir: str | None = None   # where the image files are (None: not files, e.g. TFDS)

  def __len__(self):
    return len(self.identities)

  @property
  def image_size(self):
    return tuple(self.images.shape[1:3])

  @property
  def num_identities(self):
    return len(np.unique(self.identities))

  def subset(self, idx) -> "FaceData":
    idx = np.asarray(idx)
    return FaceData(self.images[idx], self.attributes[idx], self.identities[idx],
                    [self.filenames[i] for i in idx], data_dir=self.data_dir)

  def image_paths(self) -> list[str]:
    if self.data_dir is None:
      raise DataError("these images do not come from files (TFDS): no original photos to read")
    return [os.path.join(self.data_dir, IMAGE_DIR, f) for f in self.filenames]

  @staticmethod
  def concatenate(parts: list["FaceData"]) -> "FaceData":
    dirs = {p.data_dir for p in parts}
    return FaceData(np.concatenate([np.asarray(p.images) for p in parts]),
                    np.concatenate([p.attributes for p in parts]),
                    np.concatenate([p.identities for p in parts]),
                    [f for p in parts for f in p.filenames], [f for p in parts for f in p.skipped],
                    dirs.pop() if len(dirs) == 1 else None)


def _lines(path):
  if not os.path.isfile(path):
    raise DataError(f"missing annotation file: {path}")
  with open(path, "r", encoding="utf-8", errors="strict") as f:
    try:
      return f.read().splitlines()
    except UnicodeDecodeError as e:
      raise DataError(f"{path}: not a text file ({e})") from None


def check_image_name(name: str, path, lineno) -> str:
  """An annotation's image name must be a plain file name inside img_align_celeba/."""
  if (name in (".", "..") or name != os.path.basename(name) or "\\" in name or "\x00" in name
      or os.path.isabs(name)):
    raise DataError(f"{path}:{lineno}: image name {name[:60]!r} is not a file name inside {IMAGE_DIR}/")
  return name


def parse_attributes(path) -> tuple[list[str], np.ndarray]:
  lines = _lines(path)
  if len(lines) < 2:
    raise DataError(f"{path}: expected a count line and an attribute-name line")
  try:
    count = int(lines[0].strip())
  except ValueError:
    raise DataError(f"{path}:1: expected the image count, got {lines[0][:40]!r}") from None
  names = lines[1].split()
  if tuple(names) != CELEBA_ATTRIBUTES:
    raise DataError(f"{path}:2: expected CelebA's 40 attribute names in order, got {len(names)} names")
  rows = [l for l in lines[2:]]
  files, values = [], np.empty((len(rows), 40), np.int8)
  for i, line in enumerate(rows):
    parts = line.split()
    if not parts:
      raise DataError(f"{path}:{i + 3}: empty line")
    if len(parts) != 41:
      raise DataError(f"{path}:{i + 3}: expected a file name and 40 values, got {len(parts)} fields")
    try:
      v = [int(p) for p in parts[1:]]
    except ValueError:
      raise DataError(f"{path}:{i + 3}: attribute values must be +1/-1: {line[:60]!r}") from None
    if any(x not in (1, -1) for x in v):
      raise DataError(f"{path}:{i + 3}: attribute values must be +1/-1: {line[:60]!r}")
    files.append(check_image_name(parts[0], path, i + 3))
    values[i] = v
  if count != len(files):
    raise DataError(f"{path}:1: header says {count} images, the file lists {len(files)}")
  return files, ((values + 1) // 2).astype(np.int8)


def _parse_pairs(path, what, valid=None) -> dict[str, int]:
  out = {}
  for i, line in enumerate(_lines(path)):
    parts = line.split()
    if not parts:
      continue
    if len(parts) != 2:
      raise DataError(f"{path}:{i + 1}: expected '<file> <{what}>', got {line[:60]!r}")
    try:
      v = int(parts[1])
    except ValueError:
      raise DataError(f"{path}:{i + 1}: {what} must be an integer, got {parts[1]!r}") from None
    if valid is not None and v not in valid:
      raise DataError(f"{path}:{i + 1}: {what} must be one of {sorted(valid)}, got {v}")
    check_image_name(parts[0], path, i + 1)
    if parts[0] in out:
      raise DataError(f"{path}:{i + 1}: {parts[0]} listed twice")
    out[parts[0]] = v
  return out


def read_annotations(data_dir) -> Annotations:
  files, attrs = parse_attributes(os.path.join(data_dir, ATTR_FILE))
  ident_path = os.path.join(data_dir, IDENTITY_FILE)
  part_path = os.path.join(data_dir, PARTITION_FILE)
  ids = _parse_pairs(ident_path, "identity")
  parts = _parse_pairs(part_path, "partition", valid={0, 1, 2})
  for path, table in ((ident_path, ids), (part_path, parts)):
    missing = [f for f in files if f not in table]
    if missing:
      raise DataError(f"{path}: no entry for {len(missing)} image(s) of {ATTR_FILE}, "
                      f"e.g. {', '.join(missing[:3])}")
  return Annotations(files, attrs, np.array([ids[f] for f in files], np.int64),
                     np.array([parts[f] for f in files], np.int8))


def split_index(name: str) -> int:
  if name not in SPLITS:
    raise ValueError(f"unknown split {name!r}; use train, val or test")
  return SPLITS[name]


def default_cache_dir():
  return os.environ.get("DPFE_TF_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "dpfe_tf"))


def load(data_dir, split: str, image_size, cache_dir=None, max_bad_fraction: float = 0.01,
         limit: int | None = None) -> FaceData:
  """One partition of a CelebA-layout folder, resized to ``image_size`` = (H, W)."""
  if not os.path.isdir(data_dir):
    raise DataError(f"data dir not found: {data_dir}")
  if os.path.isdir(os.path.join(data_dir, "celeb_a")) and not os.path.isfile(
      os.path.join(data_dir, ATTR_FILE)):
    return load_tfds(data_dir, split, image_size, limit=limit)
  if limit is not None and limit < 1:
    raise ValueError(f"limit must be a positive number of images, got {limit}")
  ann = read_annotations(data_dir)
  keep = np.flatnonzero(ann.partitions == split_index(split))
  if limit is not None:
    keep = keep[:limit]
  if len(keep) == 0:
    raise DataError(f"{os.path.join(data_dir, PARTITION_FILE)}: no image in the {split} partition")
  files = [ann.filenames[i] for i in keep]
  images, ok = _decoded(data_dir, files, tuple(image_size), cache_dir or default_cache_dir())
  bad = [files[i] for i in np.flatnonzero(~ok)]
  if bad:
    frac = len(bad) / len(files)
    msg = (f"{len(bad)} of {len(files)} {split} images could not be read or decoded "
           f"({frac:.2%}), e.g. {', '.join(bad[:5])}")
    if frac > max_bad_fraction:
      raise DataError(msg + f"; more than the allowed {max_bad_fraction:.2%}")
    logging.warning("%s: skipped", msg)
  good = np.flatnonzero(ok)
  return FaceData(images[good] if bad else images, ann.attributes[keep[good]],
                  ann.identities[keep[good]], [files[i] for i in good], skipped=bad,
                  data_dir=os.path.abspath(data_dir))


def _stats(data_dir, files) -> np.ndarray:
  """(size, mtime in ns) of every image file; (-1, -1) for a missing one."""
  out = np.full((len(files), 2), -1, np.int64)
  for i, f in enumerate(files):
    try:
      st = os.stat(os.path.join(data_dir, IMAGE_DIR, f))
      out[i] = (st.st_size, st.st_mtime_ns)
    except OSError:
      pass
  return out


def _decoded(data_dir, files, image_size, cache_dir):
  """uint8 images for ``files`` and a mask of the ones that decoded; cached on disk.

  The cache is keyed on the folder, the size and the file list, and holds each file's size and
  modification time: when any image changed since it was cached, everything is decoded again
  (and the log says so).
  """
  key = hashlib.sha1(json.dumps([CACHE_VERSION, os.path.abspath(data_dir), image_size, files]).encode()
                     ).hexdigest()[:16]
  base = os.path.join(cache_dir, f"celeba-{image_size[0]}x{image_size[1]}-{key}")
  stats = _stats(data_dir, files)
  paths = [base + ".npy", base + ".ok.npy", base + ".stat.npy"]
  if all(os.path.isfile(p) for p in paths):
    cached = np.load(paths[2])
    if cached.shape == stats.shape and np.array_equal(cached, stats):
      return np.load(paths[0], mmap_mode="r"), np.load(paths[1])
    changed = [files[i] for i in np.flatnonzero((cached != stats).any(1))] if cached.shape == stats.shape else files
    logging.warning("%d image file(s) changed since they were cached (e.g. %s): decoding %d images again",
                    len(changed), ", ".join(changed[:3]), len(files))
  images, ok = decode_images([os.path.join(data_dir, IMAGE_DIR, f) for f in files], image_size)
  try:
    os.makedirs(cache_dir, exist_ok=True)
    io_utils.atomic_save_npy(paths[0], images)
    io_utils.atomic_save_npy(paths[1], ok)
    io_utils.atomic_save_npy(paths[2], stats)  # last: marks the cache complete
  except OSError as e:
    logging.warning("could not write the image cache in %s: %s", cache_dir, e)
  return images, ok


def decode_images(paths, image_size, batch_size: int = 256):
  """Parallel JPEG decode + area resize with ``tf.data``; failures are skipped and flagged."""
  import tensorflow as tf
  h, w = image_size

  def decode(i, path):
    img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    if img.shape[:2] != (h, w):
      img = tf.image.resize(img, (h, w), method="area", antialias=True)
      img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)
    img = tf.ensure_shape(tf.image.resize_with_crop_or_pad(img, h, w), (h, w, 3))
    return i, img

  ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), list(paths)))
  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.ignore_errors().batch(batch_size).prefetch(2)
  images = np.zeros((len(paths), h, w, 3), np.uint8)
  ok = np.zeros(len(paths), bool)
  bar = io_utils.progress(len(paths), f"decoding {len(paths)} images to {h}x{w}")
  for idx, batch in ds.as_numpy_iterator():
    images[idx] = batch
    ok[idx] = True
    bar.add(len(idx))
  return images, ok


def load_tfds(data_dir, split, image_size, limit=None) -> FaceData:
  """TFDS ``celeb_a`` (version 2.1.0+, with identities) already prepared in ``data_dir``.

  Never downloads: an unprepared folder is an error.
  """
  import tensorflow as tf
  import tensorflow_datasets as tfds
  try:
    builder = tfds.builder("celeb_a", data_dir=data_dir)
    info_ok = builder.info.splits  # raises or is empty when nothing is prepared
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f"{data_dir}: no prepared TFDS celeb_a here ({e})") from None
  if not info_ok:
    raise DataError(f"{data_dir}: TFDS celeb_a is not prepared here (this tool never downloads)")
  tfds_split = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}[split]
  if limit:
    tfds_split += f"[:{limit}]"
  ds = builder.as_dataset(split=tfds_split, shuffle_files=False)
  h, w = image_size
  images, attrs, ids = [], [], []
  for ex in ds.as_numpy_iterator():
    img = ex["image"]
    if img.shape[:2] != (h, w):
      img = tf.cast(tf.round(tf.image.resize(img, (h, w), method="area", antialias=True)), tf.uint8).numpy()
    images.append(img)
    attrs.append([int(ex["attributes"][a]) for a in CELEBA_ATTRIBUTES])
    if "identity" not in ex:
      raise DataError("TFDS celeb_a before version 2.1.0 has no identities; prepare 2.1.0 or use the CelebA folder layout")
    ids.append(int(ex["identity"]["Identity_No"]))
  return FaceData(np.stack(images), np.array(attrs, np.int8), np.array(ids, np.int64),
                  [f"tfds:{split}:{i}" for i in range(len(ids))])
