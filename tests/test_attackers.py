"""The attackers of issue 13: each recovers identity from features that encode it and sits at the
random reference on features that do not; the worst case is taken in one place; the face
recogniser is real and offline; a missing extra is a one-line error naming the install command."""

import dataclasses

import numpy as np
import pytest

from conftest import CELEBA_SUBSET, needs_celeba_subset
from dpfe_tf.privacy import attackers, face, measures, tradeoff
from dpfe_tf.privacy.attackers import classifier, embedding, linkage, verification
from dpfe_tf.privacy.attackers.base import AttackData

needs_face = pytest.mark.skipif(not face.available(), reason="the 'attacks' extra (dlib) is not installed")


def _people(K, n, seed, leak=1.0):
  """Features and face embeddings of K people x n images: both driven by a hidden identity code."""
  rng = np.random.default_rng(seed)
  code = rng.normal(size=(K, 6))
  y = np.repeat(np.arange(K) + 100 * seed, n)
  f = leak * code[y % 100] @ MIX_F + rng.normal(size=(K * n, 10))
  photos = code[y % 100] @ MIX_E + 0.3 * rng.normal(size=(K * n, 16))
  return f, y, photos


MIX_F = np.random.default_rng(7).normal(size=(6, 10))
MIX_E = np.random.default_rng(8).normal(size=(6, 16))


def _data(leak=3.0, seed=0):
  f, y, photos = _people(20, 25, 1, leak)
  pf, py, pphotos = _people(60, 20, 2, leak)
  return AttackData(f, y, seed, pf, py, photos, pphotos)


def _run(name, data):
  return measures.pooled(attackers.make(name), data, measures.splits(data.identities, 18, seed=0, rotate=True))


@pytest.mark.parametrize("name", ["kde", "lda", "classifier", "embedding", "linkage"])
def test_attacker_identifies_encoded_identity_and_is_random_on_noise(name):
  strong = _run(name, _data(leak=3.0))
  assert strong.top1 > 0.8 and strong.log_rank_privacy < 0.1, name
  rng = np.random.default_rng(3)
  d = _data(leak=0.0)
  d.features = rng.normal(size=d.features.shape)
  if name == "linkage":  # independent of identity everywhere, the regressor has nothing to learn
    d.public_features = rng.normal(size=d.public_features.shape)
  chance = _run(name, d)
  assert chance.log_rank_privacy == pytest.approx(chance.random_log_rank, abs=0.05), name
  assert chance.top1 < 0.15  # 1/K = 0.05


def test_real_photo_ceiling_follows_the_photos_not_the_features():
  d = _data(leak=0.0)  # features carry nothing; the photos carry identity
  d.features = np.random.default_rng(4).normal(size=d.features.shape)
  assert _run("kde", d).log_rank_privacy > 0.5
  folds = measures.splits(d.identities, 18, seed=0, rotate=True)
  ceiling = measures.pooled(linkage.RealPhotoCeiling(), d, folds)
  assert ceiling.top1 > 0.9 and ceiling.log_rank_privacy < 0.05
  d.photos = np.random.default_rng(5).normal(size=d.photos.shape)
  blind = measures.pooled(linkage.RealPhotoCeiling(), d, folds)
  assert blind.log_rank_privacy == pytest.approx(blind.random_log_rank, abs=0.06)


def test_linkage_regressor_loss_goes_down():
  d = _data(leak=3.0)
  _, history = linkage.train_regressor(d.public_features, d.public_photos, epochs=20)
  assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_classifier_is_tuned_by_cross_validation_on_the_gallery():
  d = _data(leak=1.0)
  a = attackers.make("classifier")
  r = _run("classifier", d)
  a.prepare(d, measures.splits(d.identities, 18))
  assert a.setting in classifier.GRID and len(a.tuning) == len(classifier.GRID)
  assert r.notes["setting"] == {"hidden": a.setting.hidden, "steps": a.setting.steps, "l2": a.setting.l2}


@pytest.mark.parametrize("xla", [True, False], ids=["xla", "plain_graph"])
def test_classifiers_trained_together_stay_independent(xla):
  """Galleries of different sizes and class counts in one loop: each classifier answers over its
  own classes only, one that sees identity identifies, one on noise stays at chance (XLA-compiled,
  as the attacker runs, and the plain graph the bench compares it with)."""
  d = _data(leak=3.0)
  rng = np.random.default_rng(6)
  keep = d.identities < d.identities.min() + 12   # 12 of the 20 people
  noise = rng.normal(size=(int(keep.sum()), d.features.shape[1]))
  even, odd = np.arange(len(d.features)) % 2 == 0, np.arange(len(d.features)) % 2 == 1
  k_even, k_odd = np.flatnonzero(keep & even), np.flatnonzero(keep & odd)
  pos = {i: p for p, i in enumerate(np.flatnonzero(keep))}
  (c1, p1), (c2, p2) = classifier.fit_many(
      [(d.features[even], d.identities[even]), (noise[[pos[i] for i in k_even]], d.identities[k_even])],
      classifier.GRID[0], xla=xla)
  assert len(c1) == 20 and len(c2) == 12
  s1, s2 = p1(d.features[odd]), p2(noise[[pos[i] for i in k_odd]])
  assert s1.shape == (odd.sum(), 20) and s2.shape == (len(k_odd), 12)
  assert (c1[s1.argmax(1)] == d.identities[odd]).mean() > 0.8
  assert (c2[s2.argmax(1)] == d.identities[k_odd]).mean() < 0.3   # 1/12 = 0.08


def _rings(K, n, seed):
  """Identity as the radius of a circle, the angle random: every person's mean is near the origin."""
  rng = np.random.default_rng(seed)
  radius = rng.uniform(1.0, 5.0, K)
  y = np.repeat(np.arange(K) + 1000 * seed, n)
  angle = rng.uniform(0, 2 * np.pi, len(y))
  f = np.concatenate([radius[y % 1000, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
                      + 0.03 * rng.normal(size=(len(y), 2)), 0.5 * rng.normal(size=(len(y), 8))], 1)
  return f, y


def test_embedding_learned_on_public_people_reads_identity_that_lda_cannot():
  """Where identity is not linear in the feature (a radius), LDA is near chance and the embeddings,
  learned on other people only, identify."""
  f, y = _rings(20, 25, 1)
  pf, py = _rings(80, 20, 2)
  d = AttackData(f, y, 0, pf, py)
  lda, emb = _run("lda", d), _run("embedding", d)
  assert lda.log_rank_privacy > 0.55, lda.log_rank_privacy       # random: 0.70
  assert emb.log_rank_privacy < lda.log_rank_privacy - 0.2, (emb.log_rank_privacy, lda.log_rank_privacy)
  assert emb.notes["hidden"] == [s.hidden for s in embedding.GRID]
  d.public_features = None
  with pytest.raises(ValueError, match="needs public data"):
    _run("embedding", d)


def test_verification_auc_is_half_on_noise_and_high_on_identity():
  d = _data(leak=3.0)
  v = attackers.make("verification").run(d)
  assert v.auc > 0.9 and v.tar_at_far["0.01"] > 0.3 and v.n_same == 20 * 300
  rng = np.random.default_rng(0)
  d.features, d.public_features = rng.normal(size=d.features.shape), rng.normal(size=d.public_features.shape)
  v = attackers.make("verification").run(d)
  assert v.auc == pytest.approx(0.5, abs=0.03) and v.tar_at_far["0.01"] < 0.05


def test_verification_pairs_refuse_one_identity():
  """One person has no different-identity pairs (the sampler used to look for them forever)."""
  with pytest.raises(ValueError, match="two identities"):
    verification.pairs(np.zeros(5, int))
  i, j, same = verification.pairs(np.array([0, 0, 0, 1]))
  assert same.sum() == 3 and len(same) == 6 and all((i[same == 0] == 3) | (j[same == 0] == 3))


def test_roc_auc_and_tar_on_hand_made_scores():
  scores, labels = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1]), np.array([1, 1, 1, 0, 0, 0])
  assert verification.roc_auc(scores, labels) == pytest.approx(8 / 9)
  assert verification.tar_at_far(scores, labels, fars=(0.34,))["0.34"] == pytest.approx(2 / 3)


def _result(name, lrp, top1):
  return measures.PrivacyResult(name, 10, 10, lrp, 0.5, 0.2, 1 - top1, 0.5, 0.7, 0.55, 0.29)


def test_worst_case_names_the_right_attacker():
  p = tradeoff.TradeoffPoint(0.0, 0.9, {}, {"kde": _result("kde", 0.5, 0.2), "lda": _result("lda", 0.3, 0.4),
                                            "linkage": _result("linkage", 0.4, 0.6)})
  assert p.worst("log_rank_privacy") == (0.3, "lda")
  assert p.worst("top1") == (pytest.approx(0.6), "linkage")
  assert p.value("log_rank_privacy", "kde") == 0.5


def test_missing_extra_is_an_error_naming_the_install_command(monkeypatch):
  monkeypatch.setattr(face, "available", lambda: False)
  with pytest.raises(face.MissingExtra, match=r'pip install -e "\.\[attacks\]"'):
    attackers.resolve(["linkage"], photos=True)
  names, notes = attackers.resolve(["all"], photos=True)
  assert "linkage" not in names and "kde" in names and any("not installed" in n for n in notes)
  names, notes = attackers.resolve(["all"], photos=False)
  assert any("drawings" in n or "not installed" in n for n in notes)


@needs_face
@needs_celeba_subset
def test_the_face_recogniser_identifies_real_celeba_photos(cache_dir):
  from dpfe_tf import config
  test = config.DataConfig(CELEBA_SUBSET, (54, 44), cache_dir).load("test")
  ids = np.unique(test.identities)[:6]
  pick = np.concatenate([np.flatnonzero(test.identities == i)[:4] for i in ids])
  emb, found = face.photo_embeddings(test.subset(pick), cache_dir)
  assert emb.shape == (24, face.DIM) and found.mean() > 0.5
  d = ((emb[:, None] - emb[None]) ** 2).sum(-1) + np.eye(24) * 1e9
  y = test.identities[pick]
  assert (y[d.argmin(1)] == y).mean() > 0.7  # nearest other photo: the same person


@needs_face
def test_reconstruction_attacker_runs_end_to_end(tiny_faces, cache_dir):
  from dpfe_tf import config
  data = config.DataConfig(tiny_faces, (32, 26), cache_dir)
  train, test = data.load("train"), data.load("test")
  rng = np.random.default_rng(0)
  code = rng.normal(size=(100, 10))
  f_test = code[test.identities % 100] + 0.1 * rng.normal(size=(len(test), 10))
  f_train = code[train.identities % 100] + 0.1 * rng.normal(size=(len(train), 10))
  photos, _ = face.photo_embeddings(test, cache_dir)
  d = AttackData(f_test, test.identities, 0, f_train, train.identities, photos, None, np.asarray(train.images))
  a = attackers.make("reconstruction")
  assert a.runs_at(0.0) and not a.runs_at(1.0)
  a.epochs = 2
  r = measures.pooled(a, d, measures.splits(test.identities, 5, seed=0, rotate=False))
  assert r.attacker == "reconstruction" and r.K == 4 and 0.0 <= r.log_rank_privacy <= 1.0
  assert r.notes["gallery"] == "reconstructions"
  # matched against the gallery's reconstructions, the real photos play no part; against the photos they do
  folds = measures.splits(test.identities, 5, seed=0, rotate=False)
  d.photos = np.random.default_rng(1).normal(size=photos.shape)
  a.prepare(d, folds)
  assert np.array_equal(a.scores(d, folds[0].gallery, folds[0].probe)[1],
                        a.scores(dataclasses.replace(d, photos=photos), folds[0].gallery, folds[0].probe)[1])
  a.gallery = "photos"
  assert not np.array_equal(a.scores(d, folds[0].gallery, folds[0].probe)[1],
                            a.scores(dataclasses.replace(d, photos=photos), folds[0].gallery, folds[0].probe)[1])
  with pytest.raises(ValueError, match="reconstructions or photos"):
    attackers.make("reconstruction").__class__(gallery="faces")
