"""A CelebA-layout folder whose test people were never evaluated: every k-th training identity with
enough images to be evaluated becomes a test identity, and the old test identities train.

    python experiments/celeba_fresh_people.py ../shared/data/celeba-subset runs/celeba-fresh-data [--every=3]

Every recipe of the +0.15 target was designed after the test figures of the ones before it, on the
subset's 23 evaluable test people; a recipe confirmed on people it was never looked at is stronger
evidence, and more of them narrow the intervals. The rule is fixed before any figure (identities
sorted by number, the first and every k-th after it among those with more than --min_images
training images); the validation people stay as they are, so choices made on them are made the
same way. The images and annotation files are symlinked, only ``list_eval_partition.txt`` is
written: nothing of CelebA is copied.
"""

import collections
import os
import sys

import numpy as np
from absl import app, flags

from dpfe_tf import flags as dpfe_flags
from dpfe_tf.data import celeba
from dpfe_tf.privacy import measures

flags.DEFINE_integer("every", 3, "Move the first and every k-th evaluable training identity to test.")
dpfe_flags.min_images()  # an identity the evaluation would not keep stays in training
FLAGS = flags.FLAGS

LINKED = (celeba.IMAGE_DIR, celeba.IDENTITY_FILE, celeba.ATTR_FILE)
TRAIN, VAL, TEST = 0, 1, 2


def repartition(ann: celeba.Annotations, every: int, min_images: int) -> np.ndarray:
  """The new partition of every image: the chosen training identities to test, the test ones to train."""
  if every < 1:
    raise ValueError(f"--every must be >= 1, got {every}")
  train_ids = ann.identities[ann.partitions == TRAIN]
  evaluable = np.unique(train_ids[measures.kept_indices(train_ids, min_images)])  # sorted by number
  fresh = np.isin(ann.identities, evaluable[::every]) & (ann.partitions == TRAIN)
  new = np.where(ann.partitions == TEST, TRAIN, ann.partitions)
  new[fresh] = TEST
  return new


def main(argv):
  if len(argv) != 3:
    raise app.UsageError("usage: celeba_fresh_people.py SOURCE_DIR OUT_DIR [--every=3]")
  src, out = (os.path.abspath(a) for a in argv[1:])
  missing = [n for n in LINKED + (celeba.PARTITION_FILE,) if not os.path.exists(os.path.join(src, n))]
  if missing:
    sys.exit(f"{src} is not a CelebA-layout folder: no {', '.join(missing)}")
  try:
    ann = celeba.read_annotations(src)
    new = repartition(ann, FLAGS.every, FLAGS.min_images)
  except ValueError as e:  # celeba.DataError included
    sys.exit(str(e))
  os.makedirs(out, exist_ok=True)
  for name in LINKED:
    link = os.path.join(out, name)
    if not os.path.lexists(link):
      os.symlink(os.path.join(src, name), link)
  with open(os.path.join(out, celeba.PARTITION_FILE), "w") as f:
    f.writelines(f"{name} {p}\n" for name, p in zip(ann.filenames, new))
  for p, what in ((TRAIN, "train"), (VAL, "val"), (TEST, "test")):
    people = collections.Counter(ann.identities[new == p].tolist())
    print(f"{what}: {len(people)} identities, {int((new == p).sum())} images, "
          f"{sum(n > FLAGS.min_images for n in people.values())} with more than {FLAGS.min_images} (evaluated)")
  print(f"wrote {out}")


if __name__ == "__main__":
  app.run(main)
