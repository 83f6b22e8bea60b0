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

from absl import app, flags

from dpfe_tf import flags as dpfe_flags

flags.DEFINE_integer("every", 3, "Move the first and every k-th evaluable training identity to test.")
dpfe_flags.min_images()  # an identity with fewer images is never evaluated: leave it in training
FLAGS = flags.FLAGS

LINKED = ("img_align_celeba", "identity_CelebA.txt", "list_attr_celeba.txt")
TRAIN, VAL, TEST = "0", "1", "2"


def repartition(partition: dict, identity: dict, every: int, min_images: int) -> dict:
  """{file: new partition}: the chosen training identities to test, the test identities to train."""
  if every < 1:
    raise ValueError(f"--every must be >= 1, got {every}")
  counts = collections.Counter(identity[f] for f, p in partition.items() if p == TRAIN)
  evaluable = sorted((i for i, n in counts.items() if n > min_images), key=lambda i: (len(i), i))
  fresh = set(evaluable[::every])
  if not fresh:
    raise ValueError(f"no training identity has more than {min_images} images: nothing to move to test")
  swap = {TRAIN: TEST, TEST: TRAIN}
  return {f: swap[p] if (p == TRAIN and identity[f] in fresh) or p == TEST else p for f, p in partition.items()}


def _read_pairs(path) -> dict:
  with open(path) as f:
    return dict(line.split()[:2] for line in f if line.strip())


def main(argv):
  if len(argv) != 3:
    raise app.UsageError("usage: celeba_fresh_people.py SOURCE_DIR OUT_DIR [--every=3]")
  src, out = (os.path.abspath(a) for a in argv[1:])
  missing = [n for n in LINKED + ("list_eval_partition.txt",) if not os.path.exists(os.path.join(src, n))]
  if missing:
    sys.exit(f"{src} is not a CelebA-layout folder: no {', '.join(missing)}")
  partition = _read_pairs(os.path.join(src, "list_eval_partition.txt"))
  identity = _read_pairs(os.path.join(src, "identity_CelebA.txt"))
  new = repartition(partition, identity, FLAGS.every, FLAGS.min_images)
  os.makedirs(out, exist_ok=True)
  for name in LINKED:
    link = os.path.join(out, name)
    if not os.path.lexists(link):
      os.symlink(os.path.join(src, name), link)
  with open(os.path.join(out, "list_eval_partition.txt"), "w") as f:
    f.writelines(f"{name} {new[name]}\n" for name in sorted(new))
  for p, what in ((TRAIN, "train"), (VAL, "val"), (TEST, "test")):
    files = [f for f in new if new[f] == p]
    people = collections.Counter(identity[f] for f in files)
    print(f"{what}: {len(people)} identities, {len(files)} images, "
          f"{sum(n > FLAGS.min_images for n in people.values())} with more than {FLAGS.min_images} (evaluated)")
  print(f"wrote {out}")


if __name__ == "__main__":
  app.run(main)
