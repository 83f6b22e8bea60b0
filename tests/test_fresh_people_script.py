"""experiments/celeba_fresh_people.py: a re-partitioned CelebA-layout folder with never-evaluated test people."""

import os
import subprocess
import sys

import numpy as np

from conftest import CELEBA_SUBSET, needs_celeba_subset
from dpfe_tf.data.attributes import CELEBA_ATTRIBUTES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "celeba_fresh_people.py")


def _celeba_layout(path, people):
  """people: {identity: (partition, images)}; empty image files, the annotation files' formats."""
  os.makedirs(path / "img_align_celeba")
  rows, n = [], 0
  for ident, (part, count) in people.items():
    for _ in range(count):
      n += 1
      rows.append((f"{n:06d}.jpg", ident, part))
      open(path / "img_align_celeba" / rows[-1][0], "w").close()
  (path / "identity_CelebA.txt").write_text("".join(f"{f} {i}\n" for f, i, _ in rows))
  (path / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, _, p in rows))
  values = " ".join(["1"] * len(CELEBA_ATTRIBUTES))
  (path / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(CELEBA_ATTRIBUTES)}\n"
                                             + "".join(f"{f} {values}\n" for f, _, _ in rows))


def _partition_of_people(path):
  ident = dict(line.split() for line in open(path / "identity_CelebA.txt"))
  part = dict(line.split() for line in open(path / "list_eval_partition.txt"))
  out = {}
  for f, i in ident.items():
    out.setdefault(i, set()).add(part[f])
  return out


def test_every_kth_evaluable_training_person_becomes_a_test_person(tmp_path):
  src = tmp_path / "src"
  # training people 1..7 with 3 images (evaluable at --min_images=2), 8 with 2 (not), 20 val, 30-31 test
  people = {str(i): ("0", 3) for i in range(1, 8)}
  people.update({"8": ("0", 2), "20": ("1", 3), "30": ("2", 3), "31": ("2", 1)})
  _celeba_layout(src, people)
  out = tmp_path / "fresh"
  run = subprocess.run([sys.executable, SCRIPT, str(src), str(out), "--every=3", "--min_images=2"],
                       capture_output=True, text=True, cwd=ROOT)
  assert run.returncode == 0, run.stderr
  parts = _partition_of_people(out)
  # evaluable training people sorted by number: 1..7; the first and every third after it move
  assert {i for i, p in parts.items() if p == {"2"}} == {"1", "4", "7"}
  assert {i for i, p in parts.items() if p == {"0"}} == {"2", "3", "5", "6", "8", "30", "31"}
  assert parts["20"] == {"1"}
  assert all(len(p) == 1 for p in parts.values())                       # identities never span partitions
  assert os.path.islink(out / "img_align_celeba") and os.path.islink(out / "identity_CelebA.txt")
  assert not os.path.islink(out / "list_eval_partition.txt")
  assert _partition_of_people(src)["1"] == {"0"}                        # the source is untouched
  assert "test: 3 identities, 9 images, 3 with more than 2 (evaluated)" in run.stdout


def test_no_evaluable_training_person_is_one_line_and_writes_nothing(tmp_path):
  _celeba_layout(tmp_path / "src", {"1": ("0", 2), "2": ("0", 2), "30": ("2", 3)})
  run = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "src"), str(tmp_path / "out"), "--min_images=2"],
                       capture_output=True, text=True, cwd=ROOT)
  assert run.returncode != 0 and not os.path.exists(tmp_path / "out")
  assert run.stderr.strip().count("\n") == 0 and "have more than 2 images" in run.stderr   # the evaluation's own rule
  assert "lower --min_images" in run.stderr


def test_a_folder_that_is_not_celeba_layout_is_one_line(tmp_path):
  os.makedirs(tmp_path / "src")
  run = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "src"), str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=ROOT)
  assert run.returncode != 0
  assert run.stderr.strip().count("\n") == 0 and "not a CelebA-layout folder: no img_align_celeba" in run.stderr


@needs_celeba_subset
def test_the_subset_repartitioned_is_read_by_the_project(tmp_path):
  from dpfe_tf.data import celeba
  out = tmp_path / "fresh"
  run = subprocess.run([sys.executable, SCRIPT, CELEBA_SUBSET, str(out)], capture_output=True, text=True, cwd=ROOT)
  assert run.returncode == 0, run.stderr
  old, new = celeba.read_annotations(CELEBA_SUBSET), celeba.read_annotations(str(out))
  assert new.filenames == old.filenames and (new.identities == old.identities).all()
  parts = {p: set(new.identities[new.partitions == p]) for p in range(3)}
  assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
  assert parts[1] == set(old.identities[old.partitions == 1])                  # validation people unchanged
  assert set(old.identities[old.partitions == 2]) <= parts[0]                   # the old test people train
  ids, counts = np.unique(new.identities[new.partitions == 2], return_counts=True)
  assert len(ids) == 47 and (counts > 18).all()                                # every fresh person evaluated
