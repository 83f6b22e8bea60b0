"""Shared fixtures. Tests never download anything; real-data tests skip when ../shared/data is absent."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist (-n N) each worker's TensorFlow, and the commands it starts, gets its share of
# the cores rather than all of them: two workers on two cores train about 13% faster with one
# thread each than fighting over two.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
  _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
  os.environ.setdefault("TF_NUM_INTEROP_THREADS", _share)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("DPFE_TF_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
CELEBA_SUBSET = os.path.join(SHARED_DATA, "celeba-subset")
CELEBA_ANNOTATIONS = os.path.join(SHARED_DATA, "celeba-annotations")

needs_celeba_subset = pytest.mark.skipif(
    not os.path.isfile(os.path.join(CELEBA_SUBSET, "list_attr_celeba.txt")),
    reason="../shared/data/celeba-subset is absent")
needs_celeba_annotations = pytest.mark.skipif(
    not os.path.isfile(os.path.join(CELEBA_ANNOTATIONS, "list_attr_celeba.txt")),
    reason="../shared/data/celeba-annotations is absent")

TINY = dict(identities=24, min_images=10, max_images=10, val_identities=4, test_identities=4, eval_images=(10, 10),
            seed=3)


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory):
  """A small synthetic CelebA-layout folder: 24 identities x 10 images."""
  from dpfe_tf.data import synthetic
  return synthetic.generate(str(tmp_path_factory.mktemp("tiny_faces")), synthetic.SyntheticSpec(**TINY))


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
  d = str(tmp_path / "cache")
  monkeypatch.setenv("DPFE_TF_CACHE", d)
  return d
