"""The same models under the paper's isotropic noise and under noise the predictor does not read.

    python experiments/noise_shapes.py runs/celeba-subset/conv7-G/attacks/evaluation.json \
        runs/celeba-shaped/test/evaluation.json [--models=simple,dpfe] [--plot=FILE.png]

Each file is one ``python -m dpfe_tf.evaluate`` report (its ``noise_shape`` names the noise: files
from before the flag are isotropic). Prints every model's accuracy and worst-case log-rank privacy
at each noise scale with 95% intervals, and each report's operating-point comparisons
(``--operating_noise``); draws the test people's curves in one figure.
"""

import json

from absl import app, flags

flags.DEFINE_list("models", ["simple", "dpfe"], "Models to show (names in the reports).")
flags.DEFINE_string("plot", None, "Draw every model's curve under each noise shape here (png).")
F = flags.FLAGS


def _rows(ev, shape, models):
  from dpfe_tf import tables
  for c in ev["curves"]:
    if c["name"] not in models:
      continue
    for p in c["points"]:
      ci = p.get("interval_95") or {}
      yield (f"| {c['name']} | {shape} | {p['r']:g} | {tables._ci(p['accuracy'], ci.get('accuracy'), 100, '.1f')} | "
             f"{tables._ci(p['worst']['log_rank_privacy'], ci.get('log_rank_privacy'))} | {p['worst']['attacker']} |")


def main(argv):
  from dpfe_tf import tables
  if len(argv) < 2:
    raise app.UsageError("name one or more evaluation.json files")
  series, lines, random_guess, target, title = {}, [], None, None, None
  print("| model | noise | r | accuracy (%) | worst-case log-rank privacy | by |\n|---|---|---|---|---|---|")
  for path in argv[1:]:
    with open(path) as f:
      ev = json.load(f)
    shape = ev.get("noise_shape", "isotropic") + ("" if ev.get("split", "test") == "test" else f" ({ev['split']} people)")
    for row in _rows(ev, shape, F.models):
      print(row)
    for c in ev["curves"]:
      if c["name"] in F.models and ev.get("split", "test") == "test":  # the figure: the test people only
        series[f"{c['name']}, {shape} noise"] = [(p["r"], p["accuracy"], p["worst"]["log_rank_privacy"])
                                                 for p in c["points"]]
        first = next(iter(c["points"][0]["privacy"].values()))
        random_guess = first["random_log_rank"]
        title = (f"worst case over {', '.join(a for a in ev['attackers'] if a != 'verification')}; test people "
                 f"(K = {first['K']}), {ev['seeds']} seed(s)")
        if c["name"] == "simple":
          target = ("Simple at noise 0 + 0.15", c["points"][0]["worst"]["log_rank_privacy"] + 0.15)
    for v in ev.get("superiority", []):
      for what, o in (v.get("operating_point") or {}).items():
        lines.append(f"{shape} noise, {what}: {tables.operating_point_gaps(o)}")
  print("\n".join(lines))
  if F.plot:
    from dpfe_tf import plots
    shapes = ("the paper's isotropic noise (dashed) vs noise the predictor does not read (solid)"
              if any("isotropic" in label for label in series) else "noise the predictor does not read")
    plots.noise_shapes(series, F.plot, title=title and f"{title}\n{shapes}", random_guess=random_guess, target=target)
    print(f"plot: {F.plot}")


if __name__ == "__main__":
  app.run(main)
