"""Tables of finished runs: stage accuracies, privacy at noise 0 with intervals, verdicts, the search."""

import json
import os

import pytest

from dpfe_tf import report


def _point(acc, lrp_kde, lrp_clf, ci=None):
  priv = {e: {"estimator": e, "log_rank_privacy": v, "one_nn_error": 0.8, "random_log_rank": 0.716}
          for e, v in (("kde", lrp_kde), ("classifier", lrp_clf))}
  return {"r": 0.0, "accuracy": acc, "privacy": priv, **({"interval_95": ci} if ci else {})}


@pytest.fixture()
def evaluated(tmp_path):
  run = tmp_path / "conv7-G"
  os.makedirs(run / "evaluation")
  ev = {"seeds": 3, "curves": [
      {"name": "simple", "points": [_point(0.887, 0.40, 0.345, {"accuracy": [0.871, 0.901],
                                                             "log_rank_privacy": [0.332, 0.359]})]},
      {"name": "dpfe", "points": [_point(0.869, 0.50, 0.477)]}],
      "superiority": [{"a": "dpfe", "b": "simple", "measure": "log_rank_privacy", "verdict": "dpfe is superior",
                       "interval": {"first_point_log_rank_gap": 0.132,
                                    "first_point_log_rank_gap_ci": [0.115, 0.149]}}]}
  with open(run / "evaluation" / "evaluation.json", "w") as f:
    json.dump(ev, f)
  return str(run)


def test_evaluation_rows_take_the_stronger_attacker_and_keep_intervals(evaluated):
  rows = report.evaluation_rows(os.path.join(evaluated, "evaluation", "evaluation.json"))
  simple, dpfe = rows
  assert simple["log_rank_privacy"] == 0.345 and simple["attacker"] == "classifier"
  assert simple["log_rank_privacy_ci"] == [0.332, 0.359] and dpfe["log_rank_privacy_ci"] is None
  text = report.evaluation_markdown(rows)
  assert "| conv7-G | simple | 88.7 [87.1, 90.1] | 0.345 [0.332, 0.359] |" in text
  assert "| conv7-G | dpfe | 86.9 | 0.477 |" in text
  assert text.count("dpfe is superior; at noise 0, dpfe - simple: +0.132 [+0.115, +0.149]") == 1


def test_report_cli_prints_every_table(evaluated, capsys):
  os.makedirs(os.path.join(evaluated, "dpfe"))
  search = {"key": {"epochs": 2}, "identities": 20, "partition": "val",
            "simple": {"accuracy": 0.835, "log_rank_privacy": 0.33},
            "candidates": [{"beta": 1.0, "margin": 4.47, "margin_rel": 1.0, "accuracy": 0.831,
                            "log_rank_privacy": 0.449, "eligible": True, "accuracy_gap_se": 0.012}],
            "chosen": {"beta": 1.0, "margin": 4.47}, "why": "most private"}
  with open(os.path.join(evaluated, "dpfe", "search.json"), "w") as f:
    json.dump(search, f)
  with open(os.path.join(evaluated, "dpfe", "metrics.json"), "w") as f:
    json.dump({"stage": "dpfe", "layer": "conv7", "set": {"attributes": ["Male"], "mean_accuracy": 0.862,
                                                         "mean_chance": 0.63, "num_images": 719}}, f)
  assert report.main(["report", evaluated]) == 0
  out = capsys.readouterr().out
  assert "| conv7-G | dpfe | conv7 | G | 86.2% | 63.0% | 719 |" in out
  assert "y-remover search of" in out and "0.012" in out and "<- chosen" in out
  assert "| conv7-G | simple | 88.7 [87.1, 90.1]" in out
