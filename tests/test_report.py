"""Tables of finished runs: the worst-case attacker named, intervals kept, verdicts once, the search."""

import json
import os

from dpfe_tf import report, tables


def _point(acc, lrps, ci=None):
  priv = {a: {"attacker": a, "log_rank_privacy": v, "one_nn_error": 0.8, "random_log_rank": 0.716, "top1": 1 - v,
              "K": 23, "n_probe": 578} for a, v in lrps.items()}
  worst = min(lrps, key=lrps.get)
  top = max(lrps, key=lambda a: 1 - lrps[a])
  return {"r": 0.0, "accuracy": acc, "privacy": priv, "verification": {"auc": 0.81},
          "worst": {"log_rank_privacy": lrps[worst], "attacker": worst, "top1": 1 - lrps[top], "top1_attacker": top},
          **({"interval_95": ci} if ci else {})}


def _evaluation():
  return {"seeds": 3, "curves": [
      {"name": "simple", "points": [_point(0.887, {"kde": 0.40, "lda": 0.345},
                                           {"accuracy": [0.871, 0.901], "log_rank_privacy": [0.332, 0.359],
                                            "top1": [0.6, 0.7]})]},
      {"name": "dpfe", "points": [_point(0.869, {"kde": 0.50, "lda": 0.477, "linkage": 0.6})]}],
      "superiority": [{"a": "dpfe", "b": "simple", "measure": "log_rank_privacy", "verdict": "dpfe is superior",
                       "mean_gap": 0.1, "min_gap": 0.05, "max_gap": 0.2, "accuracy_range": [0.8, 0.9],
                       "interval": {"first_point_log_rank_gap": 0.132, "first_point_log_rank_gap_ci": [0.115, 0.149]}}]}


def test_evaluation_rows_name_the_worst_attacker_and_keep_intervals():
  simple, dpfe = tables.evaluation_rows("conv7-G", _evaluation())
  assert simple["log_rank_privacy"] == 0.345 and simple["attacker"] == "lda"
  assert simple["log_rank_privacy_ci"] == [0.332, 0.359] and dpfe["log_rank_privacy_ci"] is None
  text = tables.markdown_evaluation([simple, dpfe])
  assert "| conv7-G | simple | 88.7 [87.1, 90.1] | 0.345 [0.332, 0.359] | lda |" in text
  assert "| conv7-G | dpfe | 86.9 | 0.477 | lda | 0.523 | lda | 0.810 | 3 |" in text
  assert text.count("dpfe is superior") == 1 and "+0.132 [+0.115, +0.149]" in text


def test_report_cli_prints_every_table(tmp_path, capsys):
  variant = tmp_path / "conv7-G"
  os.makedirs(variant / "evaluation")
  os.makedirs(variant / "dpfe")
  json.dump(_evaluation(), open(variant / "evaluation" / "evaluation.json", "w"))
  for f in ("extractor.keras", "predictor.keras"):
    open(variant / "dpfe" / f, "w").close()
  json.dump({"stage": "dpfe", "layer": "conv7", "set": {"attributes": ["Male"], "mean_accuracy": 0.862,
                                                        "mean_chance": 0.63, "num_images": 719}},
            open(variant / "dpfe" / "metrics.json", "w"))
  json.dump({"key": {"epochs": 4}, "identities": 20, "partition": "val",
             "simple": {"accuracy": 0.835, "log_rank_privacy": 0.33},
             "candidates": [{"beta": 1.0, "margin": 4.47, "margin_rel": 1.0, "accuracy": 0.831,
                             "log_rank_privacy": 0.449, "eligible": True, "accuracy_gap_se": 0.012}],
             "chosen": {"beta": 1.0, "margin": 4.47}, "why": "most private"},
            open(variant / "dpfe" / "search.json", "w"))
  text = report.report([str(tmp_path)])
  assert "| conv7-G | dpfe | conv7 | G | 86.2% | 63.0% | 719 |" in text
  assert "weight search of conv7-G/dpfe" in text and "0.012" in text and "<- chosen" in text
  assert "| conv7-G (evaluation) | simple | 88.7 [87.1, 90.1]" in text
  # an evaluation written with --output_dir inside the variant is reported too, after evaluation/
  os.makedirs(variant / "attacks")
  ev = dict(_evaluation(), face_recogniser_ceiling={"log_rank_privacy": 0.052, "top1": 0.907, "K": 23,
                                                      "probes": 1734, "random_log_rank": 0.716})
  json.dump(ev, open(variant / "attacks" / "evaluation.json", "w"))
  text = report.report([str(tmp_path)])
  assert text.index("| conv7-G (evaluation) | simple |") < text.index("| conv7-G (attacks) | simple |")
  assert "conv7-G (attacks): face recogniser on the probes' own real photos" in text and "top-1 0.907" in text


def test_every_attacker_table_marks_the_worst_case():
  text = tables.markdown_attackers("conv7-G", _evaluation())
  assert text.splitlines()[0] == "| conv7-G, r = 0 | kde | lda | linkage | worst case |"
  assert "| simple | 0.400 / 0.600 | 0.345 / 0.655 | - | **0.345 [0.332, 0.359]** (lda) / 0.655 [0.600, 0.700] (lda) |" in text
  assert "random guess 0.716 / 0.043 (K = 23, 578 probes)" in text
