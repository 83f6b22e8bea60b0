"""The real face recogniser the strong attackers use: dlib's ResNet (128-d embedding, 99.38% on LFW).

It ships inside the PyPI packages ``dlib-bin`` and ``face-recognition-models`` (the weights are in
the package: nothing is downloaded at run time); ``pip install -e ".[attacks]"`` installs both.
Each photo: dlib's HOG face detector (the image upsampled once); where it finds no face, the
whole aligned crop is the face (counted); the 5-point landmarks; the aligned 150x150 chip; the
embedding. Photos are read from their original files at full resolution (the attacker holds
ordinary photos), embedded once in parallel worker processes and cached like the decoded
images (keyed on the files' sizes and modification times).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile

import numpy as np

from dpfe_tf import io_utils

INSTALL = 'pip install -e ".[attacks]"  (or: pip install dlib-bin face-recognition-models)'
DIM = 128


class MissingExtra(RuntimeError):
  pass


def available() -> bool:
  return all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))


def require():
  if not available():
    raise MissingExtra(f"the face-recogniser attackers need dlib and its models: {INSTALL}")


class FaceRecogniser:
  """dlib's detector, 5-point shape predictor and ResNet embedding, loaded once."""

  def __init__(self):
    require()
    import dlib
    import face_recognition_models as frm
    self._dlib = dlib
    self.detector = dlib.get_frontal_face_detector()
    self.shapes = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

  def embed_one(self, image) -> tuple[np.ndarray, bool]:
    """(128-d embedding, whether a face was detected) of one uint8 RGB image."""
    img = np.ascontiguousarray(np.asarray(image, np.uint8))
    found = self.detector(img, 1)
    h, w = img.shape[:2]
    box = max(found, key=lambda r: r.area()) if len(found) else self._dlib.rectangle(0, 0, w - 1, h - 1)
    shape = self.shapes(img, box)
    return np.asarray(self.net.compute_face_descriptor(img, shape), np.float32), bool(len(found))

  def embed(self, images) -> tuple[np.ndarray, np.ndarray]:
    out = [self.embed_one(im) for im in images]
    return np.stack([e for e, _ in out]) if out else np.zeros((0, DIM), np.float32), np.array([f for _, f in out])


def _worker(in_path, out_path):
  """In a worker process: embed the images listed (file paths) or stored (uint8 array) in ``in_path``."""
  items = np.load(in_path, allow_pickle=False)
  if items.dtype.kind in "US":
    from PIL import Image
    items = [np.asarray(Image.open(str(p)).convert("RGB")) for p in items]
  emb, found = FaceRecogniser().embed(items)
  np.savez(out_path, embeddings=emb, found=found)


def embed_parallel(items, kind="arrays", workers=None, title="") -> tuple[np.ndarray, np.ndarray]:
  """Embeddings of image files (``kind="files"``) or uint8 arrays, over ``workers`` processes
  (plain subprocesses: nothing is forked from a process that runs TensorFlow)."""
  require()
  n = len(items)
  if n == 0:
    return np.zeros((0, DIM), np.float32), np.zeros(0, bool)
  workers = max(1, min(workers or os.cpu_count() or 1, n // 16 + 1))
  parts = np.array_split(np.arange(n), workers)
  print(title or f"face recogniser: embedding {n} images with dlib ({workers} processes)", file=sys.stderr, flush=True)
  with tempfile.TemporaryDirectory(prefix="dpfe-faces-") as tmp:
    procs = []
    for i, idx in enumerate(parts):
      chunk = np.array([str(items[j]) for j in idx]) if kind == "files" else np.asarray(items)[idx].astype(np.uint8)
      np.save(os.path.join(tmp, f"in{i}.npy"), chunk)
      procs.append(subprocess.Popen([sys.executable, "-m", "dpfe_tf.privacy.face", os.path.join(tmp, f"in{i}.npy"),
                                     os.path.join(tmp, f"out{i}.npz")], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs):
      if p.returncode != 0:
        raise RuntimeError(f"the face recogniser failed: {(err.strip().splitlines() or ['no output'])[-1]}")
    embs, found = [], []
    for i in range(len(parts)):
      with np.load(os.path.join(tmp, f"out{i}.npz")) as z:
        embs.append(z["embeddings"])
        found.append(z["found"])
  return np.concatenate(embs), np.concatenate(found)


def photo_embeddings(data, cache_dir=None) -> tuple[np.ndarray, np.ndarray]:
  """Embeddings of a ``FaceData``'s original photo files (full resolution), cached on disk."""
  from dpfe_tf.data import celeba
  paths = data.image_paths()
  stats = [(os.path.getsize(p), os.stat(p).st_mtime_ns) if os.path.isfile(p) else (-1, -1) for p in paths]
  key = hashlib.sha1(json.dumps(["dlib-v1", paths, stats]).encode()).hexdigest()[:16]
  path = os.path.join(cache_dir or celeba.default_cache_dir(), f"faces-dlib-{key}.npz")
  if os.path.isfile(path):
    with np.load(path) as z:
      return z["embeddings"], z["found"]
  emb, found = embed_parallel(paths, "files")
  try:
    with io_utils.atomic_path(path, ".npz") as tmp:
      np.savez(tmp, embeddings=emb, found=found)
  except OSError as e:
    logging.warning("could not cache the face embeddings in %s: %s", path, e)
  return emb, found


if __name__ == "__main__":
  _worker(sys.argv[1], sys.argv[2])
