"""Tables of benchmark records: per model, and the paper's Figure 11 (relative to conv4_2)."""

from __future__ import annotations

import os
import re

#: The paper's Nexus 6P figures: time / memory of each cut relative to conv4_2 (Figure 11).
PAPER_FIGURE_11 = {"conv5_1": (14.44, 8.28), "conv6_1": (43.96, 22.10), "conv7": (90.81, 35.05),
                   "full": (121.76, 54.91)}
_NAME = re.compile(r"^(?P<kind>extractor|trunk|moon)_(?P<layer>conv\d(?:_\d)?|full)_(?P<form>[a-z0-9_]+)$")


def describe(path):
  """(kind, layer, form) from an exported file name, e.g. trunk_conv4_2_int8.tflite."""
  m = _NAME.match(os.path.splitext(os.path.basename(path))[0])
  if not m:
    return ("model", os.path.splitext(os.path.basename(path))[0], "")
  kind = "full" if m["kind"] == "moon" else m["kind"]
  return kind, m["layer"], m["form"]


def _ms(us):
  return "-" if us is None else f"{us / 1000:.2f}"


def _mb(v):
  return "-" if v is None else f"{v:.1f}"


def per_model(records: dict) -> str:
  """``records``: path -> BenchmarkRecord."""
  lines = [f"{'model':<30} {'MB file':>8} {'init ms':>8} {'first':>7} {'warm-up':>8} {'avg ms':>7} "
           f"{'median':>7} {'p90':>7} {'mem delta':>9} {'peak MB':>8}"]
  for path, r in records.items():
    name = os.path.splitext(os.path.basename(path))[0]
    if not r.ok:
      lines.append(f"{name:<30} failed: {r.error}")
      continue
    lines.append(f"{name:<30} {_mb(r.model_size_mb):>8} {_ms(r.init_us):>8} {_ms(r.first_inference_us):>7} "
                 f"{_ms(r.warmup_avg_us):>8} {_ms(r.inference_avg_us):>7} {_ms(r.median_us):>7} "
                 f"{_ms(r.p90_us):>7} {_mb(r.memory_overall_delta_mb):>9} {_mb(r.peak_memory_mb):>8}")
  return "\n".join(lines)


def figure_11(records: dict, memory="memory_overall_delta_mb") -> str:
  """Time and memory of conv5_1, conv6_1, conv7 and full MOON relative to conv4_2, per form."""
  table = {}
  for path, r in records.items():
    kind, layer, form = describe(path)
    if kind in ("trunk", "full") and r.ok:
      table.setdefault(form, {})["full" if kind == "full" else layer] = r
  lines = [f"{'form':<9} {'model':<8} {'avg ms':>7} {'time vs conv4_2':>16} {'memory MB':>10} "
           f"{'memory vs conv4_2':>18} {'paper (Nexus 6P) time / memory':>31}"]
  for form, rows in table.items():
    base = rows.get("conv4_2")
    if base is None:
      continue
    for name in ("conv4_2", "conv5_1", "conv6_1", "conv7", "full"):
      r = rows.get(name)
      if r is None:
        continue
      dt = 100 * (r.inference_avg_us / base.inference_avg_us - 1)
      m, mb = getattr(r, memory), getattr(base, memory)
      dm = "-" if not m or not mb else f"{100 * (m / mb - 1):+.1f}%"
      paper = PAPER_FIGURE_11.get(name)
      ptxt = "reference" if name == "conv4_2" else f"+{paper[0]:.2f}% / +{paper[1]:.2f}%"
      lines.append(f"{form:<9} {name:<8} {_ms(r.inference_avg_us):>7} {dt:>+15.1f}% {_mb(m):>10} "
                   f"{dm:>18} {ptxt:>31}")
  return "\n".join(lines)
