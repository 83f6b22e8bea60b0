"""The accuracy-privacy-complexity table: one row per evaluated and exported layer, the gap to Simple."""

import json
import os

import pytest

from dpfe_tf import layer_choice
from tests.test_report import _evaluation


def _variant(run, layer, ev_dir="attacks", tflite_bytes=1000, evaluation=None):
  variant = os.path.join(run, f"{layer}-G")
  os.makedirs(os.path.join(variant, ev_dir))
  with open(os.path.join(variant, ev_dir, "evaluation.json"), "w") as f:
    json.dump(evaluation or {**_evaluation(), "attackers": ["kde", "lda", "verification"]}, f)
  if tflite_bytes:
    os.makedirs(os.path.join(variant, "dpfe", "tflite"))
    with open(layer_choice.int8_extractor(variant, "dpfe", layer), "wb") as f:
      f.write(b"\0" * tflite_bytes)


def test_rows_per_evaluated_and_exported_layer(tmp_path):
  run = str(tmp_path)
  _variant(run, "conv7", tflite_bytes=2_000_000)
  _variant(run, "conv4_2", ev_dir="evaluation", tflite_bytes=500_000)
  _variant(run, "conv5_1", tflite_bytes=0)  # evaluated, not exported: skipped, and said
  skipped, timed = [], []
  rows = layer_choice.rows(run, benchmark=lambda p: timed.append(p) or 1500.0 * len(timed), log=skipped.append)
  assert [r.layer for r in rows] == ["conv4_2", "conv7"]
  assert len(skipped) == 2 and "conv5_1" in skipped[0] and "int8" in skipped[0] and "conv6_1" in skipped[1]
  c4, c7 = rows
  assert c4.evaluation.endswith(os.path.join("evaluation", "evaluation.json"))
  assert c7.int8_bytes == 2_000_000 and c7.latency_ms == pytest.approx(3.0)
  assert c7.log_rank_privacy == 0.477 and c7.attacker == "lda" and c7.simple_log_rank_privacy == 0.345
  assert c7.gap_ci == [0.115, 0.149] and c7.attackers == ["kde", "lda"] and c7.seeds == 3
  text = layer_choice.markdown(rows)
  assert "| conv7 | 86.9 | 0.477 (lda) | 0.345 | +0.132 [+0.115, +0.149] | 2.00 MB | 3.00 ms | 3 |" in text
  assert "Worst case over: kde, lda" in text


def test_gap_interval_follows_the_pair_order(tmp_path):
  ev = _evaluation()
  v = ev["superiority"][0]
  v["a"], v["b"] = "simple", "dpfe"
  v["interval"]["first_point_log_rank_gap_ci"] = [-0.149, -0.115]
  _variant(str(tmp_path), "conv7", evaluation=ev)
  (row,) = layer_choice.rows(str(tmp_path), benchmark=lambda p: None, log=lambda m: None)
  assert row.gap_ci == [0.115, 0.149] and row.latency_ms is None


def test_nothing_to_compare_is_one_clear_error(tmp_path):
  _variant(str(tmp_path), "conv7", tflite_bytes=0)
  with pytest.raises(FileNotFoundError, match="export --forms=int8"):
    layer_choice.rows(str(tmp_path), benchmark=lambda p: 1.0, log=lambda m: None)
  _variant(str(tmp_path), "conv6_1")
  variant = os.path.join(str(tmp_path), "conv6_1-G")
  with pytest.raises(ValueError, match="no nopeek curve"):
    layer_choice.layer_row("conv6_1", layer_choice.evaluation_file(variant),
                           layer_choice.int8_extractor(variant, "dpfe", "conv6_1"), "nopeek", lambda p: 1.0)
