"""Training under tf.distribute: two logical CPUs (MirroredStrategy) and two local worker
processes (MultiWorkerMirroredStrategy on loopback) reach the loss of one device that forms
y-remover pairs the same way (``--pair_groups=2``)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from dpfe_tf.training import distribute
from dpfe_tf.data import celeba, pipeline, sampling
from helpers import run_train

# beta 1 / margin 4: a y-remover large enough that double-counting it, or pairs across
# replicas, would show in the loss.
ARGS = ["--image_size=32x26", "--batch_size=16", "--images_per_identity=4", "--pca_samples=64",
        "--noaugment", "--noevaluate", "--steps_per_epoch=3", "--epochs=1", "--beta=1", "--margin=4"]
TOL = 2e-3  # relative: synchronised batch norm and all-reduce sum in another order


def _history(out, stage):
  with open(os.path.join(out, "conv7-G", stage, "history.json")) as f:
    return json.load(f)


# The tests of this file stay on one pytest-xdist worker, so its runs fixture is built once.
pytestmark = pytest.mark.xdist_group("test_distribute")


@pytest.fixture(scope="module")
def runs(tiny_faces, tmp_path_factory):
  """The original MOON once; then simple + dpfe on one device with pairs in 2 slices."""
  root = tmp_path_factory.mktemp("dist")
  cache = str(tmp_path_factory.mktemp("cache"))
  common = [f"--data_dir={tiny_faces}", *ARGS]
  run_train([*common, f"--output_dir={root}/orig", "--stage=original"], cache)
  common.append(f"--original_model={root}/orig/original/model.keras")
  run_train([*common, f"--output_dir={root}/one", "--pair_groups=2"], cache)
  return root, cache, common


def _assert_same_training(out, reference):
  for stage in ("simple", "dpfe"):
    got, want = _history(out, stage), _history(reference, stage)
    assert got["loss"][-1] == pytest.approx(want["loss"][-1], rel=TOL), stage
    assert got["acc"][-1] == pytest.approx(want["acc"][-1], abs=1e-6), stage
  got, want = _history(out, "dpfe"), _history(reference, "dpfe")
  assert got["y_remover"][-1] == pytest.approx(want["y_remover"][-1], rel=TOL)
  assert got["same_pairs"][-1] == pytest.approx(3 / 7)  # K-1 / (B/R - 1) within a replica's 8 images
  # Loss = attribute loss + 1 x pair loss (each counted once per replica, not once per replica pair).
  assert got["loss"][-1] < got["y_remover"][-1] + 2.0


def test_mirrored_two_cpus_trains_like_one_device(runs):
  root, cache, common = runs
  out = f"{root}/mirrored"
  proc = run_train([*common, f"--output_dir={out}", "--strategy=mirrored", "--cpu_replicas=2",
                    "--tensorboard"], cache)
  assert "mirrored strategy: 2 replicas, global batch 16 (8 per replica)" in proc.stdout
  _assert_same_training(out, f"{root}/one")
  for stage in ("simple", "dpfe"):
    logs = [f for _, _, fs in os.walk(f"{out}/tensorboard/conv7-G/{stage}") for f in fs]
    assert any(f.startswith("events.out.tfevents") for f in logs), stage
  with open(f"{out}/conv7-G/dpfe/metrics.json") as f:
    y = json.load(f)["defence"]
  assert y["replicas"] == 2 and y["pair_groups"] == 2


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def test_multi_worker_two_processes_train_like_one_device(runs):
  root, cache, common = runs
  out = f"{root}/multi_worker"
  workers = [f"localhost:{p}" for p in _free_ports(2)]
  procs = []
  for i in range(2):
    env = {**os.environ, "DPFE_TF_CACHE": cache, "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "dpfe_tf.train", *common, f"--output_dir={out}", "--strategy=multi_worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  logs = [p.communicate(timeout=600)[0] for p in procs]
  for i, (p, log) in enumerate(zip(procs, logs)):
    assert p.returncode == 0, f"worker {i}:\n{log[-3000:]}"
  assert "(chief)" in logs[0] and "worker worker-1 done" in logs[1]
  _assert_same_training(out, f"{root}/one")
  _assert_same_training(f"{out}/workers/worker-1", f"{root}/one")  # the other worker's own copy
  assert os.path.isfile(f"{out}/conv7-G/dpfe/extractor.keras")


def test_strategy_errors(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="needs TF_CONFIG"):
    distribute.make_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
  with pytest.raises(ValueError, match="not a cluster spec"):
    distribute.make_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}')
  with pytest.raises(ValueError, match="does not name a worker"):
    distribute.make_strategy("multi_worker")
  with pytest.raises(ValueError, match="unknown strategy"):
    distribute.make_strategy("horovod")
  with pytest.raises(ValueError, match="mirrored only"):
    distribute.make_strategy("default", cpu_replicas=2)
  with pytest.raises(ValueError, match="--tpu applies to --strategy=tpu only"):
    distribute.make_strategy("default", tpu="my-tpu")
  assert not distribute.is_distributed(distribute.make_strategy("default"))


def test_pair_batches_keep_the_samplers_order_on_memory_mapped_images(tiny_faces, tmp_path):
  celeba.load(tiny_faces, "train", image_size=(16, 16), cache_dir=str(tmp_path))  # decodes, caches
  data = celeba.load(tiny_faces, "train", image_size=(16, 16), cache_dir=str(tmp_path))  # maps the cache
  assert isinstance(data.images, np.memmap)
  s = sampling.IdentitySampler(data.identities, 16, 4, seed=1, groups=2)
  ds = pipeline.pair_batches(data, [20], s, augment=False)
  for step, (x, _) in enumerate(ds.take(3)):
    if step == 0:
      again = next(iter(pipeline.pair_batches(data, [20], s, augment=False)))[0]
      assert np.array_equal(again["image"].numpy(), x["image"].numpy())  # a new iterator: the same batches
    want = s.batch_at(step)
    assert np.array_equal(x["identity"].numpy(), pipeline.dense_identities(data.identities)[want])
    assert np.array_equal(x["image"].numpy(), data.images[np.sort(want)][np.argsort(np.argsort(want))])
