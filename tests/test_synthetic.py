"""The embedded demo faces (issue 15): written in CelebA's layout, deterministic, and behaving like
faces for this question: identity recoverable from Simple's feature, but only partially."""

import os

import numpy as np

from dpfe_tf import config
from dpfe_tf.data import celeba, synthetic
from dpfe_tf.privacy import evaluation
from dpfe_tf.training import stages


def test_generated_in_celeba_layout_and_deterministic(tmp_path):
  spec = synthetic.SyntheticSpec(identities=10, min_images=3, max_images=5, val_identities=2, test_identities=2,
                                 eval_images=(3, 5))
  a = synthetic.generate(str(tmp_path / "a"), spec)
  b = synthetic.generate(str(tmp_path / "b"), spec)
  ann = celeba.read_annotations(a)
  assert len(np.unique(ann.identities)) == 10 and 30 <= len(ann.filenames) <= 50
  parts = {p: set(ann.identities[ann.partitions == p]) for p in range(3)}
  assert len(parts[1]) == 2 and len(parts[2]) == 2 and not parts[0] & parts[2]  # people never span partitions
  for f in ann.filenames[:5]:
    assert open(os.path.join(a, celeba.IMAGE_DIR, f), "rb").read() == open(os.path.join(b, celeba.IMAGE_DIR, f), "rb").read()
  # Male is a person's, Smiling a photo's.
  male, smiling = ann.attributes[:, 20], ann.attributes[:, 31]
  assert all(len(set(male[ann.identities == i])) == 1 for i in np.unique(ann.identities))
  assert any(len(set(smiling[ann.identities == i])) == 2 for i in np.unique(ann.identities))


def test_men_are_spread_over_every_partition_and_every_image_count(tmp_path):
  """42% of each partition's people are men, and of the people with at least t images for every t
  (the attacker keeps those with the most), within one person: the demo's evaluated people are never
  nearly all of one sex by the luck of a draw, as version 4's were (2 men among 20)."""
  spec = synthetic.SyntheticSpec(identities=70, min_images=2, max_images=4, val_identities=25, test_identities=25,
                                 eval_images=(2, 4), seed=3)
  ann = celeba.read_annotations(synthetic.generate(str(tmp_path / "d"), spec))
  for p in range(3):
    people = np.unique(ann.identities[ann.partitions == p])
    counts = np.array([(ann.identities == i).sum() for i in people])
    male = np.array([ann.attributes[ann.identities == i][0, 20] > 0 for i in people])
    for t in range(2, 5):
      with_t = counts >= t
      assert abs(male[with_t].sum() - synthetic.MALE_SHARE * with_t.sum()) < 1, (p, t, male[with_t].sum(), with_t.sum())


def test_images_appear_whole(tmp_path, monkeypatch):
  """Two first runs at once (two commands, two test workers) share the default folder: an image is
  written beside its name and renamed, so a reader never meets a half-written file."""
  from PIL import Image
  targets, save = [], Image.Image.save
  monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (targets.append(str(fp)), save(self, fp, *a, **k))[1])
  spec = synthetic.SyntheticSpec(identities=5, min_images=2, max_images=2, val_identities=1, test_identities=1,
                                 eval_images=(2, 2))
  out = synthetic.generate(str(tmp_path / "d"), spec)
  names = sorted(os.listdir(os.path.join(out, celeba.IMAGE_DIR)))
  assert len(targets) == len(names) == 10
  assert not set(map(os.path.basename, targets)) & set(names)  # never written under its final name
  assert all(Image.open(os.path.join(out, celeba.IMAGE_DIR, n)).size for n in names)


def test_simple_leaks_identity_partially_on_the_demo_faces(tmp_path, cache_dir):
  """Measured with the project's own training and evaluation on a small demo: Simple's feature puts
  the right person far above chance, yet far from always first (not 0, not random). Measured with two
  TensorFlow threads (one, as under two pytest-xdist workers): log-rank privacy 0.368 (0.441), random
  0.670; accuracy 0.750 (0.754). Thread counts change the arithmetic, so the figures move a little."""
  spec = synthetic.SyntheticSpec(identities=60, min_images=20, max_images=22, val_identities=8, test_identities=12,
                                 eval_images=(20, 22), seed=1)
  data = synthetic.generate(str(tmp_path / "demo"), spec)
  cfg = config.TrainConfig(output_dir=str(tmp_path / "run"), data=config.DataConfig(data, (48, 40), cache_dir),
                           defence=config.DefenceConfig(name="simple"), batch_size=32, epochs_original=4,
                           epochs_simple=3, pca_samples=256, verbose=0)
  stages.run(cfg)
  # Isotropic noise (the paper's) and noise without the predictor's directions (found on the training
  # people), at r = 0 and 8; the leak is read at r = 0, the worst of the KDE and LDA attackers.
  shaped, notes = {}, {}
  for shape, attackers in (("isotropic", ("kde", "lda")), ("predictor", ("lda",))):
    res = evaluation.evaluate(config.EvalConfig(model_dirs=(os.path.join(cfg.output_dir, cfg.variant),),
                                                attackers=attackers, noise_grid=(0.0, 8.0), noise_shape=shape,
                                                bootstrap=50), progress=False)
    assert res.meta["noise_shape"] == shape
    shaped[shape], notes[shape] = res.curves[0].points, res.notes
  assert any("only its simple stage is finished" in n for n in notes["isotropic"])   # said, not silently one model
  assert [any("of the predictor's gradient energy" in n for n in notes[s]) for s in shaped] == [False, True]
  point = shaped["isotropic"][0]
  lrp, _ = point.worst()
  random = next(iter(point.privacy.values())).random_log_rank
  print(f"demo faces, small setting: Simple log-rank privacy {lrp:.3f} (random {random:.3f}), accuracy {point.accuracy:.3f}")
  assert 0.03 < lrp < random - 0.15, (lrp, random)
  assert point.accuracy > 0.65  # and the attribute is learnt (0.75 measured; chance 0.5)
  # The predictor-shaped noise keeps the attribute that the isotropic noise of the same scale
  # destroys, and still hides identity.
  print({k: [(round(p.accuracy, 3), round(p.worst()[0], 3)) for p in v] for k, v in shaped.items()})
  assert shaped["predictor"][1].accuracy > shaped["isotropic"][1].accuracy + 0.05
  assert shaped["predictor"][1].worst()[0] > shaped["predictor"][0].worst()[0] + 0.05
