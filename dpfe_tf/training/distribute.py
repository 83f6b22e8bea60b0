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
``batch_size / R`` consecutive images of it and computes its own attribute loss and its own
defence term (pairs and batch statistics never cross replicas); with batch norm synchronised
across replicas the normalisation is the one device's. The identity sampler fills each
replica's slice with whole identities (P/R identities x K images). One device reproduces an
R-replica run with ``--pair_groups=R``.

Only public APIs: the training model (``models.training_model.TrainingModel``) is created on the
host and outside the strategy's scope, its parts (extractor, predictor, defence) and its
optimizer are copied into the scope (``replicate``), ``fit`` runs inside the scope, and the
trained parts are copied back out (``unwrap``). The training data are streams whose batch i
depends only on (seed, i) (``data.pipeline``), so every worker builds the same global batches.
"""

from __future__ import annotations

import contextlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from dpfe_tf.models import compiled

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
  if cpu_replicas is not None and name != "mirrored":
    raise ValueError("--cpu_replicas applies to --strategy=mirrored only")
  if tpu and name != "tpu":
    raise ValueError("--tpu applies to --strategy=tpu only")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if cpu_replicas:
      split_cpu(cpu_replicas)
      return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    check_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


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
  """``worker-i`` for a multi-worker strategy (from TF_CONFIG), else ``local``."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return "local"
  task = check_tf_config()["task"]
  return f"{task['type']}-{int(task['index'])}"


def replicas(strategy=None) -> int:
  return (strategy or tf.distribute.get_strategy()).num_replicas_in_sync


def is_distributed(strategy) -> bool:
  """True for the multi-replica strategies this module makes (not for None or the default)."""
  return isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy,
                               tf.distribute.TPUStrategy))


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


def _copy_parts(model, sync: bool) -> dict:
  """Copies of a TrainingModel's extractor, predictor (batch norm synchronised or not) and defence."""
  parts = {}
  for name in ("extractor", "predictor"):
    part = getattr(model, name)
    parts[name] = None if part is None else sync_batch_norm(_copy(part), sync)
  defence = model.defence
  if defence is not None:
    parts["defence"] = type(defence).from_config(defence.get_config())
    parts["defence"].set_weights(defence.get_weights())
  return parts


def scope(strategy):
  """``strategy.scope()``, or nothing for one device."""
  return strategy.scope() if is_distributed(strategy) else contextlib.nullcontext()


def replicate(model, strategy):
  """A compiled ``TrainingModel`` whose parts and optimizer live in ``strategy`` (``model`` itself
  when not distributed), with batch norm synchronised over the replicas and the same start on
  every worker. The wrapper is created outside the scope (see the module doc)."""
  from dpfe_tf.models.training_model import TrainingModel
  if not is_distributed(strategy):
    return model
  with strategy.scope():
    parts = _copy_parts(model, sync=replicas(strategy) > 1)
  copy = TrainingModel(**parts, name=model.name)  # outside the scope: Keras takes no batch to build it
  with strategy.scope():
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    compiled.compile_built(copy, optimizer)
    if model.optimizer.built and len(model.optimizer.variables) == len(optimizer.variables):
      for a, b in zip(optimizer.variables, model.optimizer.variables):
        a.assign(b)
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    _check_same_start(copy, strategy)
  return copy


def _check_same_start(model, strategy):
  """Every worker must start from the same weights (gradients are averaged, values never sent)."""
  fingerprint = sum(float(np.sum(w, dtype=np.float64)) for w in model.get_weights())
  with strategy.scope():
    every = strategy.gather(tf.constant([fingerprint], tf.float64), axis=0).numpy()
  if not np.allclose(every, every[0], rtol=1e-9, atol=0.0):
    raise RuntimeError(f"the workers built different starting models (weight sums {every.tolist()}); "
                       "run every worker with the same flags, --seed and data")


def unwrap(model, strategy):
  """The trained model as a plain one-device ``TrainingModel`` (``model`` itself when not distributed)."""
  from dpfe_tf.models.training_model import TrainingModel
  if not is_distributed(strategy):
    return model
  return TrainingModel(**_copy_parts(model, sync=False), name=model.name)


def shardable(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Multi-worker input: every worker runs the same pipeline and keeps its replicas' slices."""
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return ds.with_options(options)
