"""experiments/noise_shapes.py: the noise shapes' table, operating-point lines and figure from reports."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _point(r, acc, lrp, ci=None):
  p = {"r": r, "accuracy": acc, "privacy": {"lda": {"random_log_rank": 0.716, "K": 23}},
       "worst": {"log_rank_privacy": lrp, "attacker": "lda"}}
  if ci:
    p["interval_95"] = {"accuracy": [acc - 0.01, acc + 0.01], "log_rank_privacy": [lrp - 0.01, lrp + 0.01]}
  return p


def _report(path, shape, split, curves, superiority=()):
  ev = {"split": split, "seeds": 3, "attackers": ["kde", "lda"], "superiority": list(superiority),
        "curves": [{"name": n, "points": [_point(*p, ci=True) for p in pts]} for n, pts in curves.items()]}
  if shape is not None:
    ev["noise_shape"] = shape
  with open(path, "w") as f:
    json.dump(ev, f)
  return str(path)


def test_table_operating_points_and_figure(tmp_path):
  iso = _report(tmp_path / "iso.json", None, "test",           # a report from before --noise_shape
                {"simple": [(0.0, 0.865, 0.365), (1.0, 0.737, 0.487)], "dpfe": [(0.0, 0.871, 0.446)],
                 "nopeek": [(0.0, 0.867, 0.411)]})
  op = {"dpfe at 4 vs simple at 0": {"noise": 4.0, "accuracy_gap": -0.016, "accuracy_gap_ci": [-0.033, 0.001],
                                     "log_rank_gap": 0.135, "log_rank_gap_ci": [0.120, 0.151]}}
  shaped = _report(tmp_path / "shaped.json", "predictor", "test",
                   {"simple": [(0.0, 0.865, 0.365), (4.0, 0.869, 0.473)], "dpfe": [(0.0, 0.871, 0.446),
                                                                                 (4.0, 0.849, 0.500)]},
                   [{"measure": "log_rank_privacy", "operating_point": op}])
  val = _report(tmp_path / "val.json", "predictor", "val", {"simple": [(0.0, 0.794, 0.320)]})
  png = tmp_path / "shapes.png"
  out = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "noise_shapes.py"), iso, val, shaped,
                        f"--plot={png}"], capture_output=True, text=True, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.splitlines()
  assert "| simple | isotropic | 1 | 73.7 [72.7, 74.7] | 0.487 [0.477, 0.497] | lda |" in lines
  assert "| dpfe | predictor | 4 | 84.9 [83.9, 85.9] | 0.500 [0.490, 0.510] | lda |" in lines
  assert "| simple | predictor (val people) | 0 | 79.4 [78.4, 80.4] | 0.320 [0.310, 0.330] | lda |" in lines
  assert not any("nopeek" in line for line in lines)                     # only --models
  assert ("predictor noise, dpfe at 4 vs simple at 0: accuracy -1.6 points [-3.3, +0.1], "
          "log-rank privacy +0.135 [+0.120, +0.151]") in lines
  assert png.stat().st_size > 10_000
