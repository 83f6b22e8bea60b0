import math

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from dpfe_tf import config
from dpfe_tf.privacy import attackers, measures, noise, tradeoff
from dpfe_tf.privacy.attackers import kde as estimators
from dpfe_tf.privacy.attackers.base import AttackData


def _pooled(f, y, name, min_images=18, rotate=True, seed=0):
  data = AttackData(np.asarray(f), np.asarray(y), seed)
  return measures.pooled(attackers.make(name), data, measures.splits(y, min_images, seed=seed, rotate=rotate))


def _blobs(K=20, n=40, d=10, spread=1.0, seed=0):
  rng = np.random.default_rng(seed)
  y = np.repeat(np.arange(K) * 7 + 3, n)  # identities need not be 0..K-1
  centres = rng.normal(size=(K, d)) * spread
  return rng.normal(size=(K * n, d)) + np.repeat(centres, n, axis=0), y


def test_kde_matches_scipy_gaussian_kde():
  rng = np.random.default_rng(0)
  f, y = _blobs(K=4, n=25, d=3, spread=3.0)
  probes = rng.normal(size=(50, 3)) * 3
  fit = estimators.fit_kde(f, y)
  ours = estimators.kde_log_density(fit, probes)
  ref = np.stack([gaussian_kde(f[y == c].T).logpdf(probes.T) for c in fit.classes], axis=1)
  np.testing.assert_allclose(ours, ref, rtol=1e-6)
  assert fit.fallback == []


@pytest.mark.parametrize("name", ["kde", "lda", "classifier"])
def test_lrp_is_zero_when_identity_is_always_recovered(name):
  f, y = _blobs(K=10, n=30, spread=100.0)
  r = _pooled(f, y, name, rotate=False)
  assert r.log_rank_privacy == pytest.approx(0.0, abs=1e-9), name
  assert r.one_nn_error == 0.0 and r.top1 == 1.0 and r.K == 10 and r.attacker == name


@pytest.mark.parametrize("name", ["kde", "lda", "classifier"])
def test_independent_features_match_the_random_guess_reference(name):
  rng = np.random.default_rng(1)
  _, y = _blobs(K=20, n=40)
  f = rng.normal(size=(len(y), 10))
  r = _pooled(f, y, name)  # 800 probes
  assert r.n_probe == 800 and r.K == 20
  # Sampling error of the mean log-rank over 800 probes is about 0.01 here.
  assert r.log_rank_privacy == pytest.approx(r.random_log_rank, abs=0.04)
  assert r.rank_mean == pytest.approx(0.525, abs=0.04) and r.rank_std == pytest.approx(0.289, abs=0.03)
  assert r.one_nn_error == pytest.approx(1 - 1 / 20, abs=0.04)
  # A random ranking: P(rank/K > t) is about 1 - t.
  assert r.guarantee["0.1"] == pytest.approx(0.9, abs=0.04) and r.guarantee["0.5"] == pytest.approx(0.5, abs=0.05)


def test_random_references():
  lrp, mean, std = measures.random_references(608)
  assert lrp == pytest.approx(0.845, abs=5e-4)
  assert mean == pytest.approx(0.5, abs=1e-3) and std == pytest.approx(0.2887, abs=1e-3)


def test_rank_guarantee_on_hand_made_ranks():
  ranks = np.array([1, 2, 3, 5, 8, 10, 10, 10, 10, 10])  # K = 10
  g = measures.rank_guarantee(ranks, 10, thresholds=(0.1, 0.2, 0.5, 0.9))
  assert g == {"0.1": 0.9, "0.2": 0.8, "0.5": 0.6, "0.9": 0.5}
  # Pooled folds with different K: each rank is normalised by its own K.
  assert measures.rank_guarantee([2, 2], [4, 20], thresholds=(0.2,)) == {"0.2": 0.5}


def test_ties_get_the_average_rank():
  scores = np.array([[1.0, 1.0, 1.0, 0.0], [5.0, 2.0, 2.0, 9.0]])
  # Row 1: three-way tie for places 1-3 -> 2; row 2: 9 and 5 ahead, tie for places 3-4 -> 3.5.
  np.testing.assert_allclose(measures.true_ranks(scores, np.array([0, 2])), [2.0, 3.5])


def test_split_drops_and_keeps_the_right_identities():
  y = np.concatenate([np.full(19, 1), np.full(18, 2), np.full(30, 3), np.full(5, 4)])
  s = measures.attacker_split(y, min_images=18, seed=4)
  assert s.kept_identities == 2 and s.dropped_identities == 2
  used = np.concatenate([s.gallery, s.probe])
  assert len(used) == len(set(used.tolist())) == 49 and set(y[used]) == {1, 3}  # each sample once
  assert set(y[s.probe]) <= set(y[s.gallery])
  assert len(s.probe) == pytest.approx(4.9, abs=1)
  # Rotation: every kept image is a probe exactly once.
  probes = np.concatenate([measures.attacker_split(y, 18, 0.1, 4, k).probe for k in range(s.folds)])
  assert sorted(probes.tolist()) == sorted(np.flatnonzero(np.isin(y, [1, 3])).tolist())


def test_bad_input_is_an_error():
  f, y = _blobs(K=3, n=20)
  split = measures.attacker_split(y)
  bad = f.copy()
  bad[5, 2] = np.nan
  with pytest.raises(ValueError, match="1 of 60 features contain NaN or inf .first at row 5"):
    measures.identify(attackers.make("kde"), AttackData(bad, y), split)
  with pytest.raises(ValueError, match="60 features but 59 identities"):
    measures.identify(attackers.make("kde"), AttackData(f, y[:-1]), split)
  with pytest.raises(ValueError, match="fewer than 2 identities have more than 18 images"):
    measures.attacker_split(np.repeat([1, 2, 3], [30, 10, 10]))
  with pytest.raises(ValueError, match="unknown attacker"):
    attackers.make("svm")
  # The evaluation's config refuses it too, so a command says so before TensorFlow starts.
  with pytest.raises(ValueError, match=r"unknown attacker\(s\) svm; choose from all, feature, kde"):
    config.EvalConfig(model_dirs=(".",), attackers=("kde", "svm"))


def test_singular_covariance_uses_the_documented_fallback():
  f, y = _blobs(K=4, n=30, d=10)
  y = y.copy()
  few = np.flatnonzero(y == y[0])[:25]
  y[few[:22]] = -1  # identity -1 keeps 22 images; identity y[0] keeps 8 (<= dim 10)
  fit = estimators.fit_kde(f, y)
  assert fit.fallback == [int(y[few[22]])]
  assert np.isfinite(estimators.kde_log_density(fit, f[:5])).all()
  with pytest.raises(ValueError, match="singular"):
    estimators.fit_kde(np.ones((40, 3)), np.repeat([0, 1], 20))


def test_noise_has_covariance_r_c_and_is_reproducible():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(20000, 3)) @ np.array([[2.0, 0, 0], [1.0, 1.0, 0], [0, 0.5, 0.2]])
  c = noise.feature_covariance(f)
  n = noise.add_noise(f, 0.5, c, seed=3) - f
  np.testing.assert_allclose(np.cov(n, rowvar=False), 0.5 * c, atol=0.05 * np.abs(c).max())
  np.testing.assert_array_equal(noise.add_noise(f, 0.5, c, seed=3), noise.add_noise(f, 0.5, c, seed=3))
  np.testing.assert_array_equal(noise.add_noise(f, 0.0), f)


def test_predictor_directions_are_what_a_linear_predictor_reads():
  import keras
  w = np.array([[3.0, 0.0], [4.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])   # two logits over a 5-d feature
  inp = keras.Input((5,))
  dense = keras.layers.Dense(2, use_bias=False)
  predictor = keras.Model(inp, dense(inp))
  dense.set_weights([w])
  f = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
  d, share = noise.predictor_directions(predictor, f, batch_size=128)   # k defaults to the 2 logits
  assert d.shape == (5, 2) and share == pytest.approx(1.0)
  one, share = noise.predictor_directions(predictor, f, k=1)
  assert one.shape == (5, 1) and share == pytest.approx(25 / 26, abs=0.02)   # |w1|^2 = 25 of 26
  np.testing.assert_allclose(d.T @ d, np.eye(2), atol=1e-6)
  np.testing.assert_allclose(np.abs(d[:, 0]), [0.6, 0.8, 0, 0, 0], atol=1e-6)   # the larger logit first
  np.testing.assert_allclose(np.abs(d[:, 1]), [0, 0, 1, 0, 0], atol=1e-6)
  with pytest.raises(ValueError, match="k must be between 1 and the feature dim 5"):
    noise.predictor_directions(predictor, f, k=6)


def test_noise_without_the_predictors_directions_leaves_them_untouched():
  rng = np.random.default_rng(1)
  f = rng.normal(size=(5000, 4)) @ rng.normal(size=(4, 4))
  d = np.array([[0.6], [0.8], [0.0], [0.0]])
  c = noise.without_directions(noise.feature_covariance(f), d)
  noisy = noise.add_noise(f, 4.0, c, seed=0)
  np.testing.assert_allclose(noisy @ d, f @ d, atol=1e-8)                 # what the predictor reads
  assert np.var((noisy - f) @ np.array([0.8, -0.6, 0, 0])) > 1.0           # the rest is drowned


def test_predictor_shaped_noise_keeps_accuracy_where_isotropic_noise_loses_it():
  """Identity in 5 dims, the attribute in a sixth: shaped noise raises privacy at no accuracy cost."""
  f, y = _blobs(K=8, n=30, d=5, spread=2.0)
  attribute = np.random.default_rng(2).integers(0, 2, len(f))
  f = np.concatenate([(2.0 * attribute - 1)[:, None] * 3.0, f], 1)
  labels = attribute[:, None].astype(float)
  curves = {}
  for shape, directions in (("isotropic", None), ("predictor", np.eye(6)[:, :1])):
    model = tradeoff.ModelData("m", f, y, labels, ("Male",), lambda x: x[:, :1], noise_directions=directions)
    curves[shape] = tradeoff.tradeoff_curve(model, [attackers.make("lda")], _settings((0.0, 4.0)))
  (iso_acc, _), (sh_acc, sh_lrp) = curves["isotropic"].arrays(), curves["predictor"].arrays()
  assert sh_acc[1] == 1.0 and iso_acc[1] < 0.9              # the attribute survives only the shaped noise
  assert sh_lrp[1] > sh_lrp[0] + 0.1                         # and the shaped noise still hides identity


def test_a_model_with_noise_against_another_at_noise_0_paired_intervals():
  from dpfe_tf import tables
  from dpfe_tf.privacy import evaluation, intervals
  f, y = _blobs(K=8, n=30, d=5, spread=2.0)
  labels = (f[:, :1] > 0).astype(float)
  make = lambda name, feats: tradeoff.tradeoff_curve(
      tradeoff.ModelData(name, feats, y, labels, ("Male",), lambda x: x[:, :1], noise_directions=np.eye(5)[:, :1]),
      [attackers.make("lda")], _settings((0.0, 4.0)))
  simple, dpfe = make("simple", f), make("dpfe", f)
  same = intervals.point_gap(simple.points[0], dpfe.points[0], n_boot=200)
  assert same["log_rank_gap"] == 0.0 and same["log_rank_gap_ci"] == [0.0, 0.0] and same["accuracy_gap"] == 0.0
  noisy = intervals.point_gap(dpfe.points[1], simple.points[0], n_boot=200)
  assert noisy["log_rank_gap"] == pytest.approx(dpfe.points[1].worst()[0] - simple.points[0].worst()[0])
  assert noisy["log_rank_gap_ci"][0] > 0.05                      # the shaped noise hides identity ...
  assert noisy["accuracy_gap"] == pytest.approx(dpfe.points[1].accuracy - simple.points[0].accuracy)
  assert noisy["accuracy_gap_ci"][0] <= noisy["accuracy_gap"] <= noisy["accuracy_gap_ci"][1]
  verdicts, _ = evaluation.compare([simple, dpfe], n_boot=100, operating_noise=4.0)
  ops = verdicts[0]["operating_point"]
  assert set(ops) == {"dpfe at 4 vs simple at 0", "simple at 4 vs dpfe at 0"}
  assert ops["dpfe at 4 vs simple at 0"]["log_rank_gap"] == pytest.approx(noisy["log_rank_gap"])
  assert any(line.startswith("  dpfe at 4 vs simple at 0: accuracy") for line in tables.verdict_lines(verdicts))
  with pytest.raises(ValueError, match="the operating noise 3 must be one of the noise scales above the first"):
    from dpfe_tf import config
    config.EvalConfig(model_dirs=("x",), noise_grid=(0.0, 4.0), operating_noise=3.0)


def test_the_noise_shape_is_checked():
  from dpfe_tf import config
  assert config.EvalConfig(model_dirs=("x",)).noise_shape == "isotropic"    # the paper's, by default
  with pytest.raises(ValueError, match="unknown noise shape 'pca'; use isotropic or predictor"):
    config.EvalConfig(model_dirs=("x",), noise_shape="pca")
  with pytest.raises(ValueError, match="finds the predictor's directions on the training people"):
    config.EvalConfig(model_dirs=("x",), noise_shape="predictor", split="train")


def _curve(name, acc, priv):
  pts = []
  for a, p in zip(acc, priv):
    res = measures.PrivacyResult("kde", 10, 10, p, 0.5, 0.2, 0.5, p, 0.7, 0.55, 0.29)
    pts.append(tradeoff.TradeoffPoint(0.0, a, {}, {"kde": res}))
  return tradeoff.Curve(name, pts, ["Male"], 10, {})


def _settings(grid, rotate=False, min_images=18):
  return tradeoff.CurveSettings(grid, min_images, 0.1, 0, rotate)


def test_superiority_on_hand_made_curves():
  a = _curve("dpfe", [0.95, 0.9, 0.8, 0.7], [0.3, 0.4, 0.55, 0.7])
  b = _curve("simple", [0.96, 0.9, 0.8, 0.6], [0.1, 0.3, 0.5, 0.65])
  v = tradeoff.superiority(a, b)
  assert v["a_superior"] and not v["b_superior"] and v["verdict"] == "dpfe is Acc-Priv superior to simple"
  assert v["accuracy_range"] == [0.7, 0.95] and v["mean_gap"] > 0
  crossing = _curve("x", [0.95, 0.7], [0.05, 0.9])
  v = tradeoff.superiority(crossing, b)
  assert not v["a_superior"] and not v["b_superior"] and "cross" in v["verdict"]
  far = _curve("far", [0.3, 0.2], [0.9, 0.95])
  assert "undetermined" in tradeoff.superiority(far, b)["verdict"]


def test_superiority_is_judged_above_chance_where_a_constant_guess_does_not_win():
  """The curves cross only at accuracies a constant guess beats: above chance a is superior, the
  whole range (kept beside it) crosses, and the verdict says both; the gap interval uses the same range."""
  a = _curve("dpfe", [0.95, 0.85, 0.6], [0.5, 0.6, 0.6])
  b = _curve("simple", [0.95, 0.85, 0.6], [0.3, 0.5, 0.9])         # the curves cross at accuracy 0.7875
  assert "cross" in tradeoff.superiority(a, b)["verdict"]          # no chance known: the whole range
  a.chance, b.chance = 0.8, 0.75
  v = tradeoff.superiority(a, b)
  assert v["a_superior"] and v["chance"] == 0.8 and v["accuracy_range"] == [0.8, 0.95]
  assert v["verdict"].startswith("dpfe is Acc-Priv superior to simple above chance (0.800, a constant guess")
  assert "below it, where sending nothing does as well, the curves cross (gap -0.300 to +0.200)" in v["verdict"]
  w = v["whole_range"]
  assert w["accuracy_range"] == [0.6, 0.95] and not w["a_superior"] and w["min_gap"] < 0 < v["min_gap"]
  assert v["mean_gap"] > w["mean_gap"]
  # the larger chance rate of the two curves is the floor; none above it: undetermined
  b.chance = 0.97
  v = tradeoff.superiority(a, b)
  assert v["verdict"] == "undetermined (the curves share no accuracy above chance (0.970))"
  assert not v["a_superior"] and v["whole_range"]["min_gap"] < 0
  # a verdict that holds over the whole range is printed as before
  b.chance = 0.5
  assert tradeoff.superiority(a, _curve("low", [0.95, 0.6], [0.1, 0.2]))["verdict"] == \
      "dpfe is Acc-Priv superior to low"


def test_the_gap_interval_is_taken_over_the_verdicts_range():
  from dpfe_tf.privacy import intervals

  def curve(name, acc, lrp_terms):   # per-probe log-rank terms exp'd back to ranks (K = 10)
    pts = []
    for x, t in zip(acc, lrp_terms):
      ranks = np.round(np.exp(np.asarray(t) * np.log(10))).astype(int)
      res = measures.PrivacyResult("kde", 10, len(ranks), float(np.mean(np.log(ranks) / np.log(10))),
                                   0.5, 0.2, 0.5, 0.5, 0.7, 0.55, 0.29, ranks=ranks)
      pts.append(tradeoff.TradeoffPoint(0.0, x, {}, {"kde": res}, correct=np.full(20, x)))
    return tradeoff.Curve(name, pts, ["Male"], 20, {})

  a = curve("a", [0.95, 0.6], [[0.5] * 20, [0.3] * 20])      # ranks 3 then 2
  b = curve("b", [0.95, 0.6], [[0.3] * 20, [0.9] * 20])      # ranks 2 then 8: a ahead at the top only
  whole = intervals.gap_intervals(a, b, n_boot=50)["mean_curve_gap_ci"]
  a.chance = b.chance = 0.9
  above = intervals.gap_intervals(a, b, n_boot=50)["mean_curve_gap_ci"]
  assert whole[1] < 0 < above[0]


def test_tradeoff_curve_end_to_end_on_arrays():
  f, y = _blobs(K=6, n=30, spread=3.0)
  labels = (f[:, :1] > 0).astype(float)
  model = tradeoff.ModelData("m", f, y, labels, ("Male",), lambda x: x[:, :1])
  curve = tradeoff.tradeoff_curve(model, [attackers.make("kde")], _settings((0.0, 1.0, 8.0)))
  acc, lrp = curve.arrays()
  assert acc[0] == 1.0 and acc[0] > acc[-1]
  assert lrp[0] < lrp[-1] and math.isfinite(lrp[-1])
  pos = labels.mean()   # every identity kept (30 images each): chance is the majority rate of all labels
  assert curve.chance == pytest.approx(max(pos, 1 - pos)) and curve.as_dict()["chance"] == curve.chance
  assert tradeoff.pool([curve, curve]).chance == pytest.approx(curve.chance)


def test_bootstrap_interval_matches_a_known_distribution():
  from dpfe_tf.privacy import intervals
  rng = np.random.default_rng(0)
  x = rng.normal(3.0, 2.0, 400)
  lo, hi = intervals.bootstrap_ci(x, n_boot=2000, seed=1)
  half = 1.96 * 2.0 / np.sqrt(400)  # 0.196
  assert hi - lo == pytest.approx(2 * half, rel=0.15)
  assert lo < 3.0 < hi
  # Coverage: the interval contains the true mean in about 95% of repeated experiments.
  hits = sum(lo <= 3.0 <= hi for lo, hi in (intervals.bootstrap_ci(rng.normal(3.0, 2.0, 100), 300, seed=s)
                                             for s in range(100)))
  assert 88 <= hits <= 100
  # Stratified by group: each group keeps its size in every resample.
  assert intervals._resample(6, np.array([0, 0, 0, 1, 1, 1]), rng).tolist()[3:] >= [3, 3, 3]


def test_paired_gap_interval_excludes_zero_only_for_a_real_gap():
  from dpfe_tf.privacy import intervals
  f, y = _blobs(K=8, n=30, spread=2.0)
  labels = (f[:, :1] > 0).astype(float)
  base = tradeoff.tradeoff_curve(tradeoff.ModelData("simple", f, y, labels, ("Male",), lambda x: x[:, :1]),
                                 [attackers.make("kde")], _settings((0.0, 1.0), rotate=True))
  rng = np.random.default_rng(5)
  blurred = f + rng.normal(size=f.shape) * 3.0  # same images, identity much harder to recover
  priv = tradeoff.tradeoff_curve(tradeoff.ModelData("dpfe", blurred, y, labels, ("Male",), lambda x: f[:, :1]),
                                 [attackers.make("kde")], _settings((0.0, 1.0), rotate=True))
  g = intervals.gap_intervals(priv, base, n_boot=300)
  assert g["first_point_log_rank_gap"] > 0 and g["first_point_excludes_zero"]
  same = intervals.gap_intervals(base, base, n_boot=300)
  assert same["first_point_log_rank_gap_ci"] == [0.0, 0.0] and not same["first_point_excludes_zero"]


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 12, 40])
@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_t_quantile_matches_scipy(df, level):
  from scipy import stats

  from dpfe_tf.privacy import intervals
  assert intervals.t_quantile(df, level) == pytest.approx(stats.t.ppf(0.5 + level / 2, df), rel=1e-9)


def test_interval_across_seeds_is_the_t_interval_of_the_seeds_mean():
  from scipy import stats

  from dpfe_tf.privacy import intervals
  per_seed = [0.07, 0.095, 0.081]
  a = intervals.across_seeds(per_seed)
  lo, hi = stats.t.interval(0.95, len(per_seed) - 1, loc=np.mean(per_seed), scale=stats.sem(per_seed))
  assert a["interval"] == pytest.approx([lo, hi]) and a["mean"] == pytest.approx(np.mean(per_seed))
  assert a["per_seed"] == per_seed and a["n"] == 3 and a["excludes_zero"]
  # Three seeds of one sign but far apart: the bootstrap within seeds would exclude zero, this does not.
  assert not intervals.across_seeds([0.01, 0.2, 0.02])["excludes_zero"]
  assert intervals.across_seeds([0.1, 0.1])["interval"] == [0.1, 0.1]
  with pytest.raises(ValueError, match="at least 2 seeds"):
    intervals.across_seeds([0.1])
  with pytest.raises(ValueError, match="whole number"):
    intervals.t_quantile(0)
