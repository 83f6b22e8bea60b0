"""The paper's accuracy-privacy-complexity choice of the cut layer (its Section 6.4), as one table.

For each layer whose ``<layer>-<set>`` variant of a run folder has an evaluation and an exported
int8 extractor: the defence stage's accuracy and worst-case log-rank privacy at noise 0 (with
their 95% intervals and the attacker), Simple's privacy at the same layer and the gap's interval,
beside the int8 extractor's size and its LiteRT host latency (measured here, one after the other
in one run), so a user picks a layer by what they can afford.

    python experiments/layer_choice.py runs/celeba-subset
"""

from __future__ import annotations

import dataclasses
import os

from dpfe_tf import io_utils
from dpfe_tf.models import moon
from dpfe_tf.tables import _ci

LAYERS = moon.PAPER_CUT_LAYERS
#: Where a variant's evaluation may be, first found first: the every-attacker one, then the default.
EVALUATION_DIRS = ("attacks", "evaluation")


@dataclasses.dataclass
class LayerRow:
  layer: str
  accuracy: float
  accuracy_ci: list | None
  log_rank_privacy: float
  log_rank_privacy_ci: list | None
  attacker: str
  simple_log_rank_privacy: float | None
  gap_ci: list | None          # 95% interval of (stage - Simple) log-rank privacy at noise 0
  attackers: list
  seeds: int
  int8_bytes: int
  latency_ms: float | None     # LiteRT, 1 thread, on this host
  evaluation: str


def evaluation_file(variant: str) -> str | None:
  for d in EVALUATION_DIRS:
    f = os.path.join(variant, d, "evaluation.json")
    if os.path.isfile(f):
      return f
  return None


def int8_extractor(variant: str, stage: str, layer: str) -> str:
  from dpfe_tf.mobile import export
  return export.extractor_file(os.path.join(variant, stage, "tflite"), layer, "int8")


def _gap_ci(ev: dict, stage: str):
  for v in ev.get("superiority", []):
    if v["measure"] == "log_rank_privacy" and {v["a"], v["b"]} == {stage, "simple"} and v.get("interval"):
      lo, hi = v["interval"]["first_point_log_rank_gap_ci"]
      return [lo, hi] if v["a"] == stage else [-hi, -lo]
  return None


def layer_row(layer: str, ev_path: str, tflite: str, stage: str, benchmark) -> LayerRow:
  """One row from a variant's evaluation and its int8 extractor; ``benchmark(path)`` -> mean microseconds."""
  ev = io_utils.read_json(ev_path)
  curves = {c["name"]: c["points"][0] for c in ev["curves"]}
  if stage not in curves:
    raise ValueError(f"{ev_path} has no {stage} curve (it has {', '.join(curves)})")
  p = curves[stage]
  ci = p.get("interval_95") or {}
  simple = curves.get("simple")
  us = benchmark(tflite)
  return LayerRow(layer, p["accuracy"], ci.get("accuracy"), p["worst"]["log_rank_privacy"],
                  ci.get("log_rank_privacy"), p["worst"]["attacker"],
                  None if simple is None else simple["worst"]["log_rank_privacy"], _gap_ci(ev, stage),
                  [a for a in ev.get("attackers", []) if a != "verification"], int(ev.get("seeds", 1)),
                  os.path.getsize(tflite), None if us is None else us / 1000.0, ev_path)


def rows(run: str, attribute_set: str = "G", stage: str = "dpfe", benchmark=None, log=print,
         runs: int = 50) -> list[LayerRow]:
  """A row per layer of ``LAYERS`` that is evaluated and exported in ``run``; the others are named in
  ``log``. ``benchmark(path)`` -> mean microseconds (default: LiteRT, 1 thread, ``runs`` timed runs)."""
  if benchmark is None:
    from dpfe_tf.mobile import host_benchmark

    def benchmark(path):
      return host_benchmark.benchmark(path, threads=1, warmup=5, runs=runs).inference_avg_us
  out = []
  for layer in LAYERS:
    variant = os.path.join(run, f"{layer}-{attribute_set}")
    ev, tfl = evaluation_file(variant), int8_extractor(variant, stage, layer)
    if ev is None or not os.path.isfile(tfl):
      missing = "an evaluation" if ev is None else f"an int8 extractor ({tfl})"
      log(f"skip {layer}: {variant} has no {missing}")
      continue
    out.append(layer_row(layer, ev, tfl, stage, benchmark))
  if not out:
    raise FileNotFoundError(f"no layer of {run} has both an evaluation and an int8 extractor of {stage}; "
                            f"run evaluate and export --forms=int8 first")
  return out


def markdown(rows_: list[LayerRow], stage: str = "dpfe") -> str:
  out = [f"| layer | {stage} accuracy (%) | worst-case log-rank privacy (attacker) | Simple | {stage} - Simple "
         "| int8 extractor | host latency (LiteRT, 1 thread) | seeds |", "|---|---|---|---|---|---|---|---|"]
  for r in rows_:
    simple = "-" if r.simple_log_rank_privacy is None else f"{r.simple_log_rank_privacy:.3f}"
    gap = "-" if r.simple_log_rank_privacy is None else _ci(r.log_rank_privacy - r.simple_log_rank_privacy,
                                                            r.gap_ci, sign="+")
    ms = "-" if r.latency_ms is None else f"{r.latency_ms:.2f} ms"
    out.append(f"| {r.layer} | {_ci(r.accuracy, r.accuracy_ci, 100, '.1f')} | "
               f"{_ci(r.log_rank_privacy, r.log_rank_privacy_ci)} ({r.attacker}) | {simple} | {gap} | "
               f"{r.int8_bytes / 1e6:.2f} MB | {ms} | {r.seeds} |")
  attackers = sorted({a for r in rows_ for a in r.attackers})
  out.append(f"\nWorst case over: {', '.join(attackers)} (per row: the attackers of its evaluation).")
  return "\n".join(out)
