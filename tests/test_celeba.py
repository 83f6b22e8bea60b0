import os
import shutil

import numpy as np
import pytest

from conftest import CELEBA_ANNOTATIONS, CELEBA_SUBSET, needs_celeba_annotations, needs_celeba_subset
from dpfe_tf.data import celeba
from dpfe_tf.data.attributes import CELEBA_ATTRIBUTES


def _copy_annotations(src, dst):
  os.makedirs(dst, exist_ok=True)
  for f in (celeba.ATTR_FILE, celeba.IDENTITY_FILE, celeba.PARTITION_FILE):
    shutil.copy(os.path.join(src, f), os.path.join(dst, f))
  return dst


def _edit(path, lineno, new):
  lines = open(path).read().splitlines()
  lines[lineno - 1] = new
  open(path, "w").write("\n".join(lines) + "\n")


def test_reads_synthetic_layout(tiny_faces, cache_dir):
  train = celeba.load(tiny_faces, "train", (32, 26))
  test = celeba.load(tiny_faces, "test", (32, 26))
  assert train.images.shape == (160, 32, 26, 3) and train.images.dtype == np.uint8
  assert train.attributes.shape == (160, 40) and set(np.unique(train.attributes)) <= {0, 1}
  assert train.num_identities == 16 and test.num_identities == 4
  assert not set(train.identities) & set(test.identities)
  # Second load comes from the cache and is identical.
  again = celeba.load(tiny_faces, "train", (32, 26))
  np.testing.assert_array_equal(np.asarray(again.images), np.asarray(train.images))
  assert any(f.endswith(".npy") for f in os.listdir(cache_dir))


@pytest.mark.parametrize("file,lineno,text,match", [
    (celeba.ATTR_FILE, 1, "many", r"list_attr_celeba.txt:1: expected the image count"),
    (celeba.ATTR_FILE, 2, "Male Young", r"list_attr_celeba.txt:2: expected CelebA's 40"),
    (celeba.ATTR_FILE, 5, "000003.jpg 1 -1", r"list_attr_celeba.txt:5: expected a file name and 40 values"),
    (celeba.ATTR_FILE, 4, "000002.jpg" + " 0" * 40, r"list_attr_celeba.txt:4: attribute values must be \+1/-1"),
    (celeba.IDENTITY_FILE, 3, "000003.jpg bob", r"identity_CelebA.txt:3: identity must be an integer"),
    (celeba.PARTITION_FILE, 2, "000002.jpg 7", r"list_eval_partition.txt:2: partition must be one of"),
    (celeba.PARTITION_FILE, 2, "000001.jpg 0", r"list_eval_partition.txt:2: 000001.jpg listed twice"),
])
def test_malformed_annotation_names_file_and_line(tiny_faces, tmp_path, file, lineno, text, match):
  d = _copy_annotations(tiny_faces, str(tmp_path / "broken"))
  _edit(os.path.join(d, file), lineno, text)
  with pytest.raises(celeba.DataError, match=match):
    celeba.read_annotations(d)


def test_missing_file_and_count_mismatch(tiny_faces, tmp_path):
  d = _copy_annotations(tiny_faces, str(tmp_path / "a"))
  _edit(os.path.join(d, celeba.ATTR_FILE), 1, "999")
  with pytest.raises(celeba.DataError, match="header says 999 images, the file lists 240"):
    celeba.read_annotations(d)
  _edit(os.path.join(d, celeba.ATTR_FILE), 1, "240")
  os.remove(os.path.join(d, celeba.IDENTITY_FILE))
  with pytest.raises(celeba.DataError, match="missing annotation file: .*identity_CelebA.txt"):
    celeba.load(d, "train", (32, 26))


def test_undecodable_images_are_counted_then_fatal(tiny_faces, tmp_path, cache_dir):
  d = str(tmp_path / "faces")
  shutil.copytree(tiny_faces, d)
  train_files = [l.split()[0] for l in open(os.path.join(d, celeba.PARTITION_FILE)) if l.split()[1] == "0"]
  open(os.path.join(d, celeba.IMAGE_DIR, train_files[0]), "wb").write(b"not a jpeg")
  os.remove(os.path.join(d, celeba.IMAGE_DIR, train_files[1]))
  data = celeba.load(d, "train", (32, 26), max_bad_fraction=0.05)
  assert len(data) == 158 and sorted(data.skipped) == sorted(train_files[:2])
  assert train_files[0] not in data.filenames
  with pytest.raises(celeba.DataError, match=r"2 of 160 train images could not be read"):
    celeba.load(d, "train", (32, 26), max_bad_fraction=0.01, cache_dir=str(tmp_path / "c2"))


def test_unprepared_tfds_dir_is_an_error_not_a_download(tmp_path):
  os.makedirs(tmp_path / "celeb_a")
  with pytest.raises(celeba.DataError, match="TFDS celeb_a"):
    celeba.load(str(tmp_path), "train", (32, 26))


@needs_celeba_annotations
def test_full_official_annotation_files_parse():
  files, attrs = celeba.parse_attributes(os.path.join(CELEBA_ANNOTATIONS, celeba.ATTR_FILE))
  assert len(files) == 202_599 and attrs.shape == (202_599, 40)
  ids = celeba._parse_pairs(os.path.join(CELEBA_ANNOTATIONS, celeba.IDENTITY_FILE), "identity")
  assert len(ids) == 202_599 and len(set(ids.values())) == 10_177
  male = attrs[:, CELEBA_ATTRIBUTES.index("Male")].mean()
  assert 0.40 < male < 0.44  # CelebA is 41.7% male


@needs_celeba_subset
def test_celeba_subset_partitions(cache_dir):
  ann = celeba.read_annotations(CELEBA_SUBSET)
  assert len(ann.filenames) == 5048 and len(np.unique(ann.identities)) == 241
  parts = {p: set(ann.identities[ann.partitions == p]) for p in range(3)}
  assert not parts[0] & parts[2] and not parts[0] & parts[1]
  test = celeba.load(CELEBA_SUBSET, "test", (54, 44))
  assert len(test) == 719 and test.num_identities == 40 and test.images.shape[1:] == (54, 44, 3)


class _FakeBuilder:
  """Stands in for a prepared TFDS celeb_a 2.1.0 builder (no download is possible)."""

  def __init__(self, n=6):
    rng = np.random.default_rng(0)
    self.examples = [{"image": rng.integers(0, 255, (218, 178, 3), dtype=np.uint8),
                      "attributes": {a: bool((i + j) % 3 == 0) for j, a in enumerate(CELEBA_ATTRIBUTES)},
                      "identity": {"Identity_No": np.int64(100 + i // 2)}} for i in range(n)]

    class Info:
      splits = {"train": None, "validation": None, "test": None}
    self.info = Info()
    self.requested = None

  def as_dataset(self, split, shuffle_files):
    import tensorflow as tf
    self.requested = split
    return tf.data.Dataset.from_generator(
        lambda: iter(self.examples),
        output_signature={"image": tf.TensorSpec((218, 178, 3), tf.uint8),
                          "attributes": {a: tf.TensorSpec((), tf.bool) for a in CELEBA_ATTRIBUTES},
                          "identity": {"Identity_No": tf.TensorSpec((), tf.int64)}})


def test_prepared_tfds_celeb_a_is_read(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds
  os.makedirs(tmp_path / "celeb_a")
  fake = _FakeBuilder()
  monkeypatch.setattr(tfds, "builder", lambda name, data_dir: fake)
  data = celeba.load(str(tmp_path), "val", (54, 44), limit=6)
  assert fake.requested == "validation[:6]"
  assert data.images.shape == (6, 54, 44, 3) and data.images.dtype == np.uint8
  np.testing.assert_array_equal(data.identities, [100, 100, 101, 101, 102, 102])
  assert data.attributes[0, 0] == 1 and data.attributes[0, 1] == 0 and data.attributes[1, 2] == 1
