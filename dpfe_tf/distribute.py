"""Training on more than one device or machine with ``tf.distribute``.

Strategies (``--strategy``):

- ``default``: one device (whatever TensorFlow picks).
- ``mirrored``: ``MirroredStrategy`` over the local GPUs, or over ``--cpu_replicas`` logical
  CPU devices (a CPU-only machine has one CPU device unless it is split).
- ``multi_worker``: ``MultiWorkerMirroredStrategy``; every machine runs the same command with its
  own ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``).
  Only the chief (worker 0) writes ``--output_dir``; worker i keeps its own copy of every stage
  in ``<output_dir>/workers/worker-i`` (all workers must see the same stages to stay in step;
  delete those copies after training).
- ``tpu``: ``TPUStrategy`` where a TPU is reachable (``--tpu``: its name or address).

Batch semantics: ``--batch_size`` is the **global** batch. Each of the R replicas gets
``batch_size / R`` consecutive images of it, and computes its own attribute loss, its own
y-remover pairs (pairs never cross replicas) and, with batch norm synchronised across replicas,
the same normalisation as one device. The identity sampler fills each replica's slice with
whole identities (P/R identities x K images), so every replica sees same-identity pairs at the
fraction (K - 1) / (batch_size / R - 1). One device reproduces an R-replica run exactly with
``--pair_groups=R`` (pairs within each of R consecutive slices of the batch).

Models are built on the host, then copied into the strategy's scope (``replicate``); after
training they are copied back out (``unwrap``) so prediction and evaluation never shard data.
"""

from __future__ import annotations

import contextlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def split_cpu(n: int):
  """Splits the host CPU into ``n`` logical devices (before TensorFlow initialises its devices)."""
  if n < 1:
    raise ValueError(f"cpu replicas must be >= 1, got {n}")
  cpu = tf.config.list_physical_devices("CPU")[0]
  have = tf.config.get_logical_device_configuration(cpu)
  if have is not None and len(have) == n:
    return
  try:
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
  except RuntimeError as e:
    raise RuntimeError(f"cannot split the CPU into {n} devices once TensorFlow has started; "
                       "do it before any model or tensor is created") from e


def make_strategy(name: str = "default", cpu_replicas: int | None = None, tpu: str | None = None):
  """The ``tf.distribute`` strategy called ``name`` (see the module doc)."""
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; one of {', '.join(STRATEGIES)}")
  if cpu_replicas and name not in ("mirrored",):
    raise ValueError("--cpu_replicas applies to --strategy=mirrored only")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if cpu_replicas:
      split_cpu(cpu_replicas)
      return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    check_tf_config()
    _patch_scalar_mean()
    return tf.distribute.MultiWorkerMirroredStrategy()
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def _patch_scalar_mean():
  """Lets Keras 3 report metrics under ``MultiWorkerMirroredStrategy``.

  Keras averages each step's per-replica metric values with ``strategy.reduce("MEAN", v, axis=0)``
  on multi-worker strategies, which fails for the scalar values metrics are. A scalar's mean over
  all replicas of all workers is ``reduce("MEAN", v, axis=None)``; everything else is Keras' own code.
  """
  from keras.src.backend.tensorflow import trainer as tf_trainer
  original = tf_trainer.reduce_per_replica
  if getattr(original, "_dpfe_tf_patch", False):
    return

  def reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
      def one(v):
        if v.shape.rank == 0:
          return strategy.reduce("MEAN", v, axis=None)
        return original(v, strategy, reduction)
      return keras.tree.map_structure(one, values)
    return original(values, strategy, reduction)
  reduce_per_replica._dpfe_tf_patch = True
  tf_trainer.reduce_per_replica = reduce_per_replica


def check_tf_config() -> dict:
  """Parses ``TF_CONFIG`` with errors that say what is wrong (multi-worker only)."""
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    raise ValueError('--strategy=multi_worker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                     '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\'')
  try:
    conf = json.loads(raw)
    cluster, task = conf["cluster"], conf["task"]
    index = int(task["index"])
    if not isinstance(cluster["worker"], list):
      raise TypeError("cluster.worker must be a list of host:port")
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"TF_CONFIG is not a cluster spec with cluster.worker and task.index: {raw}") from e
  members = cluster.get(task.get("type"), []) if task.get("type") in ("worker", "chief") else []
  if not 0 <= index < len(members):
    raise ValueError(f"TF_CONFIG task {task} does not name a worker or chief of the cluster {cluster}")
  return conf


def is_chief(strategy=None) -> bool:
  """False only for a non-chief worker of a multi-worker cluster (the one that does not save)."""
  return (strategy or tf.distribute.get_strategy()).extended.should_checkpoint


def worker_name(strategy=None) -> str:
  resolver = getattr(getattr(strategy, "extended", None), "_cluster_resolver", None)
  if resolver is None or resolver.task_type is None:
    return "local"
  return f"{resolver.task_type}-{resolver.task_id}"


def replicas(strategy=None) -> int:
  return (strategy or tf.distribute.get_strategy()).num_replicas_in_sync


def is_distributed(strategy) -> bool:
  """False for None and for TensorFlow's default (one-device, no-scope) strategy."""
  return strategy is not None and type(strategy).__name__ != "_DefaultDistributionStrategy"


def sync_batch_norm(model, on: bool = True):
  """Sets ``synchronized`` on every batch-norm layer (nested models included)."""
  for layer in _all_layers(model):
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.synchronized = on
  return model


def _all_layers(model):
  for layer in model.layers:
    yield layer
    if isinstance(layer, keras.Model):
      yield from _all_layers(layer)


def _copy(model):
  clone = keras.models.clone_model(model)
  clone.set_weights(model.get_weights())
  return clone


def scope(strategy):
  """``strategy.scope()``, or nothing for one device."""
  return strategy.scope() if is_distributed(strategy) else contextlib.nullcontext()


def replicate(model, strategy):
  """A copy of ``model`` whose variables live in ``strategy`` (the model itself when not distributed)."""
  if not is_distributed(strategy):
    return model
  with strategy.scope():
    return _copy(model)


def prepare(model, strategy, dataset=None):
  """Readies a model created in ``strategy``'s scope for ``fit`` on ``dataset``: batch norm over the
  global batch, the same start on every worker, and a build that takes no batch (below)."""
  if not is_distributed(strategy):
    return model
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    _check_same_start(model, strategy)
  if dataset is not None:
    _build_from_spec(model, strategy, dataset.element_spec)
  return sync_batch_norm(model, replicas(strategy) > 1)


def _check_same_start(model, strategy):
  """Every worker must start from the same weights (gradients are averaged, values never sent)."""
  fingerprint = sum(float(np.sum(w, dtype=np.float64)) for w in model.get_weights())
  with strategy.scope():
    every = strategy.gather(tf.constant([fingerprint], tf.float64), axis=0).numpy()
  if not np.allclose(every, every[0], rtol=1e-9, atol=0.0):
    raise RuntimeError(f"the workers built different starting models (weight sums {every.tolist()}); "
                       "run every worker with the same flags, --seed and data")


def _build_from_spec(model, strategy, element_spec):
  """Builds the compiled model from the data's shapes before ``fit`` instead of from its first batch.

  Under a strategy Keras 3 builds the model by pulling one batch from the training iterator, which
  (a) fails on multi-worker strategies, where it all-reduces the nested per-replica batch
  (keras-team/keras#20585), and (b) opens an extra iterator on the data, which moves a reshuffling
  dataset on by one pass, so a distributed run would train on other batches than a one-device run
  with the same seed. The build only needs shapes and dtypes, which the dataset's ``element_spec`` has.
  """
  if not hasattr(model, "_maybe_symbolic_build") or not hasattr(model, "_symbolic_build"):
    raise RuntimeError("this Keras version has no Model._maybe_symbolic_build/_symbolic_build: "
                       "update dpfe_tf.distribute._build_from_spec")

  def maybe_symbolic_build(iterator=None, data_batch=None):
    with strategy.scope():
      model._symbolic_build(data_batch=element_spec)
  model._maybe_symbolic_build = maybe_symbolic_build


def unwrap(model):
  """A plain one-device copy of a model trained under a strategy (the model itself otherwise)."""
  if getattr(model, "_distribute_strategy", None) is None:
    return model
  return sync_batch_norm(_copy(model), False)


def shardable(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Multi-worker input: every worker runs the same pipeline and keeps its replicas' slices."""
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return ds.with_options(options)
