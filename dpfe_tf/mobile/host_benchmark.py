"""Host benchmark of TFLite files with the LiteRT interpreter, reporting what benchmark_model does.

Each model runs in its own process (so peak RSS is that model's), single-threaded by default:
init (load + allocate), first inference, warm-up average, inference average, median, p90,
the memory delta of init and of the whole run, and the peak RSS. The worker imports only
numpy and ai_edge_litert.
"""

from __future__ import annotations

import json
import subprocess
import sys

from dpfe_tf.mobile.benchmark_output import BenchmarkRecord


def _rss_mb(field="VmRSS"):
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 1024.0
  return float("nan")


def worker(path, threads, warmup, runs):
  """Runs in the child process: returns a dict of BenchmarkRecord fields."""
  import time

  import numpy as np
  from ai_edge_litert.interpreter import Interpreter
  start_rss = _rss_mb()
  t = time.perf_counter()
  it = Interpreter(model_path=path, num_threads=threads)
  it.allocate_tensors()
  init_us = (time.perf_counter() - t) * 1e6
  init_rss = _rss_mb()
  inp = it.get_input_details()[0]
  dt = np.dtype(inp["dtype"])
  rng = np.random.default_rng(0)
  if np.issubdtype(dt, np.integer):
    x = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, inp["shape"]).astype(dt)
  else:
    x = rng.uniform(0, 255, inp["shape"]).astype(dt)

  def once():
    it.set_tensor(inp["index"], x)
    s = time.perf_counter()
    it.invoke()
    return (time.perf_counter() - s) * 1e6

  first = once()
  warm = [once() for _ in range(warmup)]
  timed = np.array([once() for _ in range(runs)])
  return {"init_us": init_us, "first_inference_us": first,
          "warmup_avg_us": float(np.mean(warm)) if warm else None,
          "inference_avg_us": float(timed.mean()), "runs": runs, "min_us": float(timed.min()),
          "max_us": float(timed.max()), "std_us": float(timed.std()),
          "median_us": float(np.median(timed)), "p90_us": float(np.percentile(timed, 90)),
          "memory_init_delta_mb": init_rss - start_rss, "memory_overall_delta_mb": _rss_mb() - start_rss,
          "peak_memory_mb": _rss_mb("VmHWM"), "model_size_mb": None, "error": None}


def benchmark(path, threads=1, warmup=5, runs=30, timeout=600) -> BenchmarkRecord:
  code = ("import json,sys; from dpfe_tf.mobile import host_benchmark as h; "
          "print(json.dumps(h.worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))")
  proc = subprocess.run([sys.executable, "-c", code, path, str(threads), str(warmup), str(runs)],
                        capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    return BenchmarkRecord(error=(proc.stderr.strip().splitlines() or ["worker failed"])[-1])
  import os
  rec = BenchmarkRecord(**json.loads(proc.stdout.strip().splitlines()[-1]))
  rec.model_size_mb = os.path.getsize(path) / 1e6
  return rec
