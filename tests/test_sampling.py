import itertools

import numpy as np
import pytest

from dpfe_tf.data import sampling


def _ids(counts):
  return np.concatenate([np.full(c, i) for i, c in enumerate(counts)])


@pytest.mark.parametrize("batch,k", [(64, 8), (32, 4), (60, 6)])
def test_same_identity_pair_fraction_is_exact(batch, k):
  ids = _ids([12] * 30)
  s = sampling.IdentitySampler(ids, batch, k, seed=0)
  same = total = 0
  for step in range(20):
    b = ids[s.batch_at(step)]
    assert len(b) == batch and len(np.unique(s.batch_at(step))) == batch  # no image twice in a batch
    for i, j in itertools.combinations(range(batch), 2):
      same += b[i] == b[j]
      total += 1
  assert same / total == pytest.approx((k - 1) / (batch - 1))
  assert s.same_pair_fraction == pytest.approx((k - 1) / (batch - 1))


def test_k_from_fraction():
  assert sampling.images_per_identity_for(64, 0.1) == 8    # 7/63 = 0.111
  assert sampling.images_per_identity_for(64, 0.05) == 4   # 3/63 = 0.048
  k = sampling.images_per_identity_for(60, 0.25)
  assert abs(sampling.same_pair_fraction(60, k) - 0.25) < 0.05 and 60 % k == 0
  with pytest.raises(ValueError):
    sampling.images_per_identity_for(64, 1.5)


def test_small_identities_dropped_or_error():
  ids = _ids([10] * 8 + [3, 2])
  s = sampling.IdentitySampler(ids, 16, 4)
  assert s.dropped == {8: 3, 9: 2} and s.num_images == 80
  assert not set(ids[np.concatenate([s.batch_at(i) for i in range(10)])]) & {8, 9}
  with pytest.raises(ValueError, match="2 identities have fewer than 4 images"):
    sampling.IdentitySampler(ids, 16, 4, small_identities="error")


def test_too_few_identities_for_a_batch():
  with pytest.raises(ValueError, match="only 3 identities"):
    sampling.IdentitySampler(_ids([10, 10, 10]), 32, 4)
  with pytest.raises(ValueError, match="divide the batch size"):
    sampling.IdentitySampler(_ids([10] * 10), 30, 4)


def test_groups_hold_whole_identities_and_batches_depend_only_on_seed_and_step():
  ids = _ids([12] * 30)
  s = sampling.IdentitySampler(ids, 32, 4, seed=5, groups=2)
  for step in range(5):
    b = s.batch_at(step)
    halves = ids[b].reshape(2, 16)
    assert not set(halves[0]) & set(halves[1])                 # no identity spans two slices
    assert all(np.bincount(h)[np.unique(h)].tolist() == [4] * 4 for h in halves)
  again = sampling.IdentitySampler(ids, 32, 4, seed=5, groups=2)
  assert np.array_equal(s.batch_at(3), again.batch_at(3))
  assert not np.array_equal(s.batch_at(3), s.batch_at(4))
  assert s.same_pair_fraction == pytest.approx(3 / 15)          # within a slice of 16
  with pytest.raises(ValueError, match="multiple of 16"):
    sampling.IdentitySampler(ids, 24, 4, groups=4)
