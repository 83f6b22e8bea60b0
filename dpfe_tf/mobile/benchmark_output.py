"""Parses the output of TFLite's ``benchmark_model`` (several versions) into one record.

Lines it reads (with or without an "INFO: " or logcat prefix):

    The input model file size (MB): 4.27635
    count=50 first=18535 curr=14500 min=14305 max=15893 avg=14575.2 std=301 [p5=.. median=.. p95=..]
    Inference timings in us: Init: 5685, First inference: 18535, Warmup (avg): 14462.3, Inference (avg): 14575.2
    Average inference timings in us: Warmup: 96578.7, Init: 4453, no stats: 93929      (older releases)
    Memory footprint delta from the start of the tool (MB): init=2.43359 overall=8.67578
    Overall peak memory footprint (MB) via periodic monitoring: 13.1797

The last ``count=`` line is the timed runs' statistics (the one before it, the warm-up's).
"""

from __future__ import annotations

import dataclasses
import re

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


@dataclasses.dataclass
class BenchmarkRecord:
  init_us: float | None = None
  first_inference_us: float | None = None
  warmup_avg_us: float | None = None
  inference_avg_us: float | None = None
  runs: int | None = None
  min_us: float | None = None
  max_us: float | None = None
  std_us: float | None = None
  median_us: float | None = None
  p90_us: float | None = None
  memory_init_delta_mb: float | None = None
  memory_overall_delta_mb: float | None = None
  peak_memory_mb: float | None = None
  model_size_mb: float | None = None
  error: str | None = None

  @property
  def ok(self):
    return self.inference_avg_us is not None and self.error is None


def parse(text: str) -> BenchmarkRecord:
  r = BenchmarkRecord()
  m = re.search(rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
                rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", text)
  if m:
    r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us = map(float, m.groups())
  else:
    m = re.search(rf"Average inference timings in us: Warmup: {_NUM}, Init: {_NUM}, no stats: {_NUM}", text)
    if m:
      r.warmup_avg_us, r.init_us, r.inference_avg_us = map(float, m.groups())
  counts = re.findall(r"count=\d+[^\n]*", text)
  if counts:
    stats = dict(re.findall(rf"(\w+)={_NUM}", counts[-1]))
    r.runs = int(float(stats["count"]))
    for key, field in (("min", "min_us"), ("max", "max_us"), ("std", "std_us"),
                       ("median", "median_us"), ("p50", "median_us"), ("p90", "p90_us")):
      if key in stats:
        setattr(r, field, float(stats[key]))
    if r.first_inference_us is None and len(counts) >= 2:
      first = dict(re.findall(rf"(\w+)={_NUM}", counts[0]))
      r.first_inference_us = float(first["first"]) if "first" in first else None
  m = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUM} overall={_NUM}", text)
  if m:
    r.memory_init_delta_mb, r.memory_overall_delta_mb = map(float, m.groups())
  m = re.search(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}", text)
  if m:
    r.peak_memory_mb = float(m.group(1))
  m = re.search(rf"The input model file size \(MB\): {_NUM}", text)
  if m:
    r.model_size_mb = float(m.group(1))
  if r.inference_avg_us is None:
    lines = [l.strip() for l in text.splitlines()]
    errors = [l.split("ERROR:", 1)[1].strip() for l in lines if "ERROR:" in l]
    failed = [l for l in lines if re.search(r"failed|Failed", l)]
    r.error = "; ".join(errors) if errors else failed[-1] if failed else "no inference timings in the output"
  return r
