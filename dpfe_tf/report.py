"""Tables of finished runs, in Markdown: stage accuracies, the weight searches, privacy with intervals.

    python -m dpfe_tf.report runs/celeba-subset runs/celeba-subset/conv7-G ...

Each argument is a run folder (its original MOON and every variant in it) or a variant folder.
"""

from __future__ import annotations

import os


from dpfe_tf import flags as dflags


def _variants(path):
  from dpfe_tf import run_dir
  v = run_dir.Variant(path)
  if v.finished_stages():
    return [v]
  return [run_dir.Variant(os.path.join(path, d)) for d in sorted(os.listdir(path))
          if os.path.isdir(os.path.join(path, d)) and run_dir.Variant(os.path.join(path, d)).finished_stages()]


def _evaluations(variant_path):
  """(label, file) of every evaluation.json / compare.json one level below the variant: its own
  evaluation/ and compare/ folders first, then any --output_dir written inside it."""
  found = []
  for kind in ("evaluation", "compare"):
    for d in sorted(os.listdir(variant_path)):
      f = os.path.join(variant_path, d, f"{kind}.json")
      if os.path.isfile(f):
        found.append((0 if d == kind else 1, d, f))
  return [(d, f) for _, d, f in sorted(found)]


def report(paths) -> str:
  from dpfe_tf import io_utils, run_dir, tables
  stage_rows, searches, evaluated, per_attacker = [], [], [], []
  for path in paths:
    if not os.path.isdir(path):
      raise FileNotFoundError(f"no such folder: {path}")
    original = run_dir.RunDir(path).original
    if original.done:
      stage_rows += [dict(run=os.path.basename(os.path.normpath(path)), **r)
                     for r in tables.summary_rows({"original": original.metrics()})]
    for v in _variants(path):
      stage_rows += [dict(run=v.name, **r) for r in tables.summary_rows({s.name: s.metrics()
                                                                         for s in v.finished_stages()})]
      for s in v.finished_stages():
        if s.read("search.json"):
          searches.append((f"{v.name}/{s.name}", s.read("search.json")))
      for label, f in _evaluations(v.path):
        ev = io_utils.read_json(f)
        evaluated += tables.evaluation_rows(f"{v.name} ({label})", ev)
        per_attacker.append(tables.markdown_attackers(f"{v.name} ({label})", ev))
        if ev.get("face_recogniser_ceiling"):
          per_attacker.append(f"{v.name} ({label}): {tables.ceiling_line(ev['face_recogniser_ceiling'])}\n")
  if not stage_rows:
    raise FileNotFoundError(f"no finished stage found in {', '.join(paths)}")
  out = [tables.markdown_stages(stage_rows)]
  for name, result in searches:
    out += [f"\nweight search of {name} ({result['identities']} {result['partition']} identities, "
            f"{result['key']['epochs']} epochs per candidate):", tables.search_table(result)]
  if evaluated:
    out += ["\nPrivacy at noise 0 (worst case over the attackers, named; [95% intervals]):\n",
            tables.markdown_evaluation(evaluated), "\nEvery attacker at noise 0:\n", *per_attacker]
  return "\n".join(out)


def main(argv):
  if len(argv) < 2:
    dflags.usage_error("name one or more run or variant folders (python -m dpfe_tf.report runs/demo)")

  def run(paths):
    print(report(paths))
    return 0
  return dflags.cli_main(lambda: argv[1:], run, tensorflow=False)(argv[:1])  # JSON in, Markdown out


if __name__ == "__main__":
  dflags.run(main)
