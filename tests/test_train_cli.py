"""The commands end to end on small settings, as a user runs them: train, evaluate, compare,
export + verify, invert, report; and what happens when a run is interrupted or diverges."""

import json
import os
import re

import keras
import numpy as np
import pytest

from conftest import CELEBA_SUBSET, needs_celeba_subset
from dpfe_tf import config, run_dir
from dpfe_tf.privacy import face
from dpfe_tf.training import callbacks, stages
from helpers import run_module, run_train

SMALL = ["--image_size=32x26", "--batch_size=16", "--images_per_identity=4", "--pca_samples=64"]
FAST = ["--attackers=kde,lda,verification", "--bootstrap=200"]


@pytest.fixture(scope="module")
def small_run(tiny_faces, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("run"))
  cache = str(tmp_path_factory.mktemp("cache"))
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2",
                    "--layer=conv6_1", "--attributes=GA", "--min_images=5", "--noise=0,1,8", *FAST], cache)
  return out, os.path.join(out, "conv6_1-GA"), cache, proc


# The tests on the run above stay on one pytest-xdist worker, so it is trained once.
on_small_run = pytest.mark.xdist_group("test_train_cli.small_run")


@pytest.fixture(scope="module")
def compared(small_run, tiny_faces):
  """The compare command on the run: every defence trained beside Simple and DPFE, then evaluated."""
  out, _, cache, _ = small_run
  return run_module("compare", [f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2",
                                "--layer=conv6_1", "--attributes=GA", "--min_images=5", "--noise=0,4",
                                "--defences=simple,dpfe,adversarial,nopeek", "--epochs_defence=2", *FAST], cache)


@on_small_run
def test_three_stages_write_models_and_metrics(small_run):
  out, variant, _, proc = small_run
  stage_dirs = {"original": os.path.join(out, "original"), "simple": os.path.join(variant, "simple"),
                "dpfe": os.path.join(variant, "dpfe")}
  for stage, d in stage_dirs.items():
    m = json.load(open(os.path.join(d, "metrics.json")))
    assert m["set"]["attributes"] == ["Male", "Young"]
    assert 0.0 <= m["set"]["mean_accuracy"] <= 1.0 and m["set"]["num_images"] == 40
    assert len(json.load(open(os.path.join(d, "history.json")))["loss"]) == 2
    assert not os.path.exists(os.path.join(d, "checkpoint"))
    ident = json.load(open(os.path.join(d, "config.json")))["identity"]
    assert ident["epochs"] == 2 and ident.get("simple", ident)["batch_size"] == 16  # what the weights depend on
  assert len(json.load(open(os.path.join(out, "original", "metrics.json")))["all"]["accuracy"]) == 40
  for part in ("extractor", "predictor", "full"):
    assert os.path.isfile(os.path.join(variant, "dpfe", f"{part}.keras"))
  dpfe = json.load(open(os.path.join(variant, "dpfe", "metrics.json")))
  assert dpfe["defence"]["images_per_identity"] == 4 and dpfe["defence"]["same_pair_fraction"] == pytest.approx(0.2)
  assert dpfe["defence"]["beta"] == 0.3 and dpfe["defence"]["margin"] == pytest.approx(10.0)
  assert "y_remover" in json.load(open(os.path.join(variant, "dpfe", "history.json")))
  summary = proc.stdout.split("Summary")[1]
  assert "dpfe" in summary and "worst attacker" in summary
  # the time left, after every epoch: in the stage, and in the run's training while stages remain
  assert "original: epoch 1/2 done, about" in proc.stdout and "simple, dpfe still to train" in proc.stdout
  lines = proc.stdout.splitlines()
  last = lines.index("  dpfe: epoch 2/2 done, about 0s left in this stage")
  assert "val_loss" in lines[last - 1]  # after Keras' own line for the epoch
  rows = json.load(open(os.path.join(variant, "summary.json")))["rows"]
  assert [r["stage"] for r in rows] == ["original", "original", "simple", "dpfe"]
  assert all(0 <= r["log_rank_privacy"] <= 1 and r["attacker"] in ("kde", "lda") for r in rows[2:])
  assert os.path.isfile(os.path.join(variant, "evaluation", "accuracy_vs_log_rank_privacy.png"))
  # where the wall time went: every stage trained here, then the evaluation, the last line
  done = re.fullmatch(r"Done in (\S+): original (\S+), simple (\S+), dpfe (\S+), evaluation (\S+); "
                      r"start-up and data the rest", lines[-1])
  assert done, lines[-1]
  seconds = json.load(open(os.path.join(variant, "summary.json")))["seconds"]
  stage_seconds = [json.load(open(os.path.join(d, "metrics.json")))["seconds"] for d in stage_dirs.values()]
  assert seconds["total"] > sum(stage_seconds) + seconds["evaluation"] > 0


@on_small_run
def test_saved_halves_compose_and_carry_their_pairing_id(small_run):
  _, variant, _, _ = small_run
  stage = run_dir.Variant(variant).stage("dpfe")
  halves = stage.halves()
  full = stage.load("full")
  assert halves.extractor.output_shape == (None, 10) and halves.predictor.output_shape == (None, 2)
  x = np.random.default_rng(0).uniform(0, 255, (3, 32, 26, 3)).astype("float32")
  np.testing.assert_allclose(halves.predictor(halves.extractor(x)), full(x), rtol=1e-5, atol=1e-5)
  assert not any(l.__class__.__name__ == "Lambda" for m in halves.__dict__.values() for l in m.layers)
  simple = run_dir.Variant(variant).stage("simple").halves()
  from dpfe_tf.models import separation
  with pytest.raises(ValueError, match="different trainings"):
    separation.check_pair(separation.pair_id(halves.extractor), simple.predictor, "here")


@on_small_run
def test_finished_stages_are_reused(small_run, tiny_faces):
  out, variant, cache, _ = small_run
  before = os.path.getmtime(os.path.join(variant, "dpfe", "full.keras"))
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2",
                    "--layer=conv6_1", "--attributes=GA", "--noevaluate"], cache)
  assert proc.stdout.count("already trained") == 3
  assert proc.stdout.splitlines()[-1].endswith(": original reused, simple reused, dpfe reused; start-up and data the rest")
  assert os.path.getmtime(os.path.join(variant, "dpfe", "full.keras")) == before


@on_small_run
def test_another_layer_reuses_the_original_moon(small_run, tiny_faces):
  out, _, cache, _ = small_run
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2", "--layer=conv7",
                    "--attributes=GA", "--defence=simple", "--noevaluate"], cache)
  assert "== original: already trained" in proc.stdout
  assert os.path.isfile(os.path.join(out, "conv7-GA", "simple", "extractor.keras"))


@on_small_run
def test_another_configuration_is_refused_and_overwrite_moves_it_aside(small_run, tiny_faces, tmp_path):
  out, variant, cache, _ = small_run
  args = [f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2", "--layer=conv6_1",
          "--attributes=GA", "--stage=defence", "--beta=0.5", "--noevaluate"]
  proc = run_train(args, cache, check=False)
  assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
  assert "another configuration's dpfe stage" in proc.stderr and "beta: saved 0.3, now 0.5" in proc.stderr


def test_interrupted_stage_resumes_from_its_checkpoint(tiny_faces, tmp_path, cache_dir, monkeypatch):
  cfg = config.TrainConfig(output_dir=str(tmp_path / "r"), data=config.DataConfig(tiny_faces, (32, 26)),
                           batch_size=16, epochs_original=2, steps_per_epoch=2, verbose=0)
  real = callbacks.EpochCheckpoint.on_epoch_end

  def killed_after_epoch_one(self, epoch, logs=None):
    real(self, epoch, logs)
    raise KeyboardInterrupt
  monkeypatch.setattr(callbacks.EpochCheckpoint, "on_epoch_end", killed_after_epoch_one)
  with pytest.raises(KeyboardInterrupt):
    stages.run(cfg, ("original",))
  stage = run_dir.RunDir(cfg.output_dir).original
  state, model = callbacks.latest(stage.checkpoint_dir)
  assert state["epochs_done"] == 1 and os.path.isfile(model) and not stage.done
  first = state["history"]["loss"][0]
  monkeypatch.setattr(callbacks.EpochCheckpoint, "on_epoch_end", real)
  stages.run(cfg, ("original",))
  hist = stage.history()
  assert len(hist["loss"]) == 2 and hist["loss"][0] == first  # epoch 1 from the checkpoint, epoch 2 new
  assert stage.done and not os.path.exists(stage.checkpoint_dir)


def test_the_job_clock_estimates_the_time_left_from_the_epochs_so_far():
  now = [0.0]
  clock = callbacks.JobClock({"original": 6, "simple": 4, "dpfe": 4}, now=lambda: now[0])
  clock.epoch_done("original", 10.0)
  assert clock.estimate("original") == (50.0, 130.0)
  assert clock.line("original", 1, 6) == ("  original: epoch 1/6 done, about 50s left in this stage; "
                                          "about 2m10s left in training, simple, dpfe still to train")
  clock.epoch_done("original", 30.0)  # the pace is the mean epoch so far: 20 s
  assert clock.estimate("original") == (80.0, 240.0)
  clock.resume("simple", 3)  # a resumed stage has fewer epochs left
  assert clock.estimate("simple") == (20.0, 180.0)
  for _ in range(4):
    clock.epoch_done("original", 20.0)
  clock.epoch_done("simple", 20.0)
  assert clock.estimate("dpfe") == (80.0, 80.0)
  for _ in range(4):
    clock.epoch_done("dpfe", 20.0)
  assert clock.line("dpfe", 4, 4) == "  dpfe: epoch 4/4 done, about 0s left in this stage"
  # as a callback: the epoch's own time, measured on the clock
  tick = callbacks.TimeLeft(clock, "dpfe", 4)
  now[0] = 100.0
  tick.on_epoch_begin(0)
  now[0] = 160.0
  tick.on_epoch_end(0)
  assert clock.seconds == 10 + 30 + 4 * 20 + 20 + 4 * 20 + 60 and clock.done == 12


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  inp = keras.Input((3,))
  model = keras.Model(inp, keras.layers.Dense(1)(inp))
  model.compile(optimizer="sgd", loss="mse")
  guard = callbacks.StopOnNaN()
  ck = callbacks.EpochCheckpoint(str(tmp_path), guard)
  x = np.ones((32, 3), np.float32)
  y = np.ones((32, 1), np.float32)
  model.fit(x, y, epochs=1, batch_size=8, callbacks=[guard, ck], verbose=0)
  good = [w.copy() for w in model.get_weights()]
  y[20:] = np.nan
  model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, callbacks=[guard, ck], verbose=0, shuffle=False)
  assert guard.where == (2, 3)
  state, path = callbacks.latest(str(tmp_path))
  assert state["epochs_done"] == 1
  for a, b in zip(keras.saving.load_model(path).get_weights(), good):
    np.testing.assert_array_equal(a, b)


def run_evaluate(args, cache_dir, check=True):
  return run_module("evaluate", args, cache_dir, check)


def evaluate_small(small_run, rep, stage="", noise="0,1,8", attackers="kde,lda,classifier,verification",
                   bootstrap=200, extra=()):
  """evaluate on the small run's variant (or one ``stage`` of it) into ``rep``: (process, evaluation.json)."""
  _, variant, cache, _ = small_run
  proc = run_evaluate([f"--model_dir={os.path.join(variant, stage)}", f"--output_dir={rep}", "--min_images=5",
                       f"--noise={noise}", f"--attackers={attackers}", f"--bootstrap={bootstrap}", *extra], cache)
  return proc, json.load(open(os.path.join(rep, "evaluation.json")))


@on_small_run
def test_evaluate_cli_writes_report(small_run, tmp_path):
  rep = str(tmp_path / "report")
  proc, ev = evaluate_small(small_run, rep, attackers="feature,verification")
  assert [c["name"] for c in ev["curves"]] == ["simple", "dpfe"] and ev["images"] == 40
  pts = ev["curves"][0]["points"]
  assert [p["r"] for p in pts] == [0.0, 1.0, 8.0]
  assert set(pts[0]["privacy"]) == {"kde", "lda", "classifier", "embedding"} and "verification" in pts[0]
  assert pts[0]["privacy"]["kde"]["n_probe"] == 40 and pts[0]["privacy"]["kde"]["K"] == 4  # rotated
  w = pts[0]["worst"]
  assert w["log_rank_privacy"] == min(p["log_rank_privacy"] for p in pts[0]["privacy"].values())
  each = pts[0]["interval_95"]["per_attacker"]
  for a in ("kde", "lda", "classifier", "embedding"):
    lo, hi = each[a]["log_rank_privacy"]
    assert lo <= pts[0]["privacy"][a]["log_rank_privacy"] <= hi
  assert pts[0]["privacy"][w["attacker"]]["log_rank_privacy"] == w["log_rank_privacy"]
  assert len(ev["superiority"]) == 2  # log-rank and 1-NN, simple vs dpfe
  for v in ev["superiority"]:
    assert v["verdict"] in proc.stdout
    assert v["chance"] == ev["curves"][0]["chance"] and 0.5 <= v["chance"] <= 1   # judged above a constant guess
    assert v["accuracy_range"] is None or v["accuracy_range"][0] >= v["chance"]
  assert f"constant guess: accuracy {ev['curves'][0]['chance']:.3f}" in proc.stdout
  rows = open(os.path.join(rep, "evaluation.csv")).read().splitlines()
  assert len(rows) == 1 + 2 * 3 * 5  # models x noise levels x (4 attackers + verification)
  for png in ("accuracy_vs_log_rank_privacy.png", "attackers_at_noise0.png", "rank_guarantee.png"):
    assert open(os.path.join(rep, png), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@on_small_run
def test_original_cut_baseline_is_evaluated_on_the_same_probes(small_run, tmp_path):
  proc, ev = evaluate_small(small_run, str(tmp_path / "baseline"), noise="0", attackers="kde,lda", bootstrap=50,
                            extra=["--baselines=original_pca"])
  assert [c["name"] for c in ev["curves"]] == ["original-pca", "simple", "dpfe"]
  points = [c["points"][0] for c in ev["curves"]]
  assert len({p["privacy"]["lda"]["n_probe"] for p in points}) == 1 and points[0]["privacy"]["lda"]["n_probe"] == 40
  assert 0.0 <= points[0]["accuracy"] <= 1.0 and "original-pca" in proc.stdout
  assert any(v["b"] == "original-pca" for v in ev["superiority"])


@on_small_run
@pytest.mark.skipif(not face.available(), reason="the 'attacks' extra (dlib) is not installed")
def test_evaluate_links_to_the_face_recogniser_and_prints_its_ceiling(small_run, tmp_path):
  proc, ev = evaluate_small(small_run, str(tmp_path / "linkage"), stage="dpfe", noise="0", attackers="kde,linkage",
                            bootstrap=50)
  assert set(ev["curves"][0]["points"][0]["privacy"]) == {"kde", "linkage"}
  c = ev["face_recogniser_ceiling"]
  assert c["K"] == 4 and c["probes"] == 40 and 0.0 <= c["log_rank_privacy"] <= c["random_log_rank"] + 0.2
  assert f"log-rank privacy {c['log_rank_privacy']:.3f}" in proc.stdout and "ceiling" in proc.stdout


@on_small_run
def test_evaluate_with_seeds_pools_and_reports_intervals(small_run, tmp_path):
  _, variant, cache, _ = small_run
  rep = str(tmp_path / "seeds")
  proc = run_evaluate([f"--model_dir={variant}", f"--output_dir={rep}", "--seeds=2", "--min_images=5",
                       "--noise=0,4", "--attackers=kde", "--bootstrap=200"], cache)
  seed1 = os.path.join(variant, "seeds", "seed_1", "dpfe")
  assert os.path.isfile(os.path.join(seed1, "extractor.keras"))
  c1 = json.load(open(os.path.join(seed1, "config.json")))["config"]
  assert c1["seed"] == 1 and c1["layer"] == "conv6_1" and c1["defence"]["beta"] == 0.3
  ev = json.load(open(os.path.join(rep, "evaluation.json")))
  assert ev["seeds"] == 2 and ev["rotated"]
  p0 = ev["curves"][1]["points"][0]
  assert p0["privacy"]["kde"]["n_probe"] == 80  # 40 test images, each a probe once, per seed
  lo, hi = p0["interval_95"]["log_rank_privacy"]
  assert lo <= p0["privacy"]["kde"]["log_rank_privacy"] <= hi
  lrp = [v for v in ev["superiority"] if v["measure"] == "log_rank_privacy"][0]
  assert lrp["a"] == "dpfe" and len(lrp["interval"]["first_point_log_rank_gap_ci"]) == 2
  assert "95% intervals" in proc.stdout
  # Each seed's own figure and the t interval across the seeds: with one attacker and as many probes
  # per seed, their mean is the pooled figure.
  across = p0["interval_95"]["across_seeds"]["log_rank_privacy"]
  assert len(across["per_seed"]) == 2 and across["mean"] == pytest.approx(p0["privacy"]["kde"]["log_rank_privacy"])
  assert across["interval"][0] <= across["mean"] <= across["interval"][1]
  simple0 = ev["curves"][0]["points"][0]["interval_95"]["across_seeds"]["log_rank_privacy"]
  gap = lrp["interval"]["across_seeds"]
  assert gap["per_seed"] == pytest.approx([d - s for d, s in zip(across["per_seed"], simple0["per_seed"])])
  assert ev["seeds_retrain"] == "simple" and "across the 2 seeds (each its own Simple and defence, one original MOON" \
      in proc.stdout
  assert not os.path.exists(os.path.join(variant, "seeds", "own_original"))


@on_small_run
def test_evaluate_with_seeds_that_retrain_the_original_moon(small_run, tmp_path):
  out, variant, cache, _ = small_run
  rep = str(tmp_path / "own")
  proc = run_evaluate([f"--model_dir={os.path.join(variant, 'simple')}", f"--output_dir={rep}", "--seeds=2",
                       "--seeds_retrain=original", "--min_images=5", "--noise=0", "--attackers=kde",
                       "--bootstrap=50"], cache)
  seed1 = os.path.join(variant, "seeds", "own_original", "seed_1")
  own = json.load(open(os.path.join(seed1, "original", "config.json")))
  assert own["identity"]["seed"] == 1 and own["identity"]["epochs"] == 2
  assert json.load(open(os.path.join(seed1, "simple", "config.json")))["identity"]["original"] == {
      "trained_here": own["identity"]}
  mine, runs = (run_dir.load_model(os.path.join(d, "original", "model.keras"), "the original MOON").get_weights()[0]
                for d in (seed1, out))
  assert mine.shape == runs.shape and not np.allclose(mine, runs)  # another original MOON, not a copy
  ev = json.load(open(os.path.join(rep, "evaluation.json")))
  assert ev["seeds"] == 2 and ev["seeds_retrain"] == "original"
  across = ev["curves"][0]["points"][0]["interval_95"]["across_seeds"]["log_rank_privacy"]
  assert len(across["per_seed"]) == 2 and "across the 2 seeds: accuracy" in proc.stdout
  # each seed's figure is printed as soon as that seed is evaluated
  assert "seed 1 at noise 0: simple accuracy" in proc.stdout
  assert f"log-rank privacy {across['per_seed'][1]:.3f} (kde)" in proc.stdout


@on_small_run
def test_evaluate_cli_errors(small_run, tmp_path):
  _, variant, cache, _ = small_run
  proc = run_evaluate([f"--model_dir={tmp_path}"], cache, check=False)
  assert proc.returncode == 2 and "no trained extractor.keras" in proc.stderr
  proc = run_evaluate([f"--model_dir={variant}", "--min_images=50"], cache, check=False)
  assert proc.returncode == 2 and "fewer than 2 identities have more than 50 images" in proc.stderr
  proc = run_evaluate([f"--model_dir={variant}", "--attackers=kde,telepathy"], cache, check=False)
  assert proc.returncode == 2 and "unknown attacker(s) telepathy" in proc.stderr


@on_small_run
def test_compare_cli_end_to_end(small_run, compared, tiny_faces):
  out, variant, cache, _ = small_run
  proc = compared
  comp = json.load(open(os.path.join(variant, "compare", "compare.json")))
  assert [c["name"] for c in comp["curves"]] == ["simple", "dpfe", "adversarial", "nopeek"]
  against = {(v["a"], v["b"]) for v in comp["superiority"] if v["measure"] == "log_rank_privacy"}
  assert against == {("simple", "dpfe"), ("adversarial", "dpfe"), ("nopeek", "dpfe")}
  assert os.path.isfile(os.path.join(variant, "adversarial", "extractor.keras"))
  assert "identity_loss" in json.load(open(os.path.join(variant, "adversarial", "history.json")))
  assert "distance_correlation" in json.load(open(os.path.join(variant, "nopeek", "history.json")))
  assert "| conv6_1-GA | nopeek |" in proc.stdout
  assert os.path.isfile(os.path.join(variant, "compare", "accuracy_vs_log_rank_privacy.png"))
  proc = run_module("compare", [f"--data_dir={tiny_faces}", f"--output_dir={out}", "--defences=simple,pca"],
                    cache, check=False)
  assert proc.returncode == 2 and "unknown defence 'pca'; choose one of simple, dpfe, dpfe_whitened, dpfe_conditional, dpfe_score, adversarial, nopeek" in proc.stderr


@on_small_run
@pytest.mark.parametrize("defence", ["dpfe", "adversarial", "nopeek"])
def test_export_and_verify_every_defences_extractor(small_run, compared, tiny_faces, tmp_path, defence):
  _, variant, cache, _ = small_run
  exp = str(tmp_path / "tflite")
  qat = ["--qat", "--qat_steps=5"] if defence == "dpfe" else []
  proc = run_module("export", [f"--model_dir={variant}", f"--stage={defence}", f"--output_dir={exp}",
                               "--forms=float32,int8", *qat, "--min_images=5", "--representative=16",
                               f"--trunks={'true' if defence == 'dpfe' else 'false'}"], cache)
  s = json.load(open(os.path.join(exp, "export.json")))
  assert set(s["extractor"]) == ({"float32", "int8", "qat_int8"} if qat else {"float32", "int8"})
  assert s["extractor"]["float32"]["max_abs_feature_diff"] < 1e-3
  assert s["extractor"]["int8"]["size_vs_float32"] < 0.5
  if qat:
    assert set(s["trunks"]) == {"conv4_2", "conv5_1", "conv6_1", "conv7"} and set(s["full"]) == {"float32", "int8"}
    assert "qat_int8" in proc.stdout
  c = json.load(open(os.path.join(exp, "extractor_conv6_1_int8.json")))
  assert c["quantization"]["input"]["dtype"] == "int8" and c["parity"]["images"] == 40 and len(c["sha256"]) == 64
  assert c["extractor_id"] == s["extractor_id"]
  tfl = os.path.join(exp, "extractor_conv6_1_int8.tflite")
  args = [f"--data_dir={tiny_faces}", "--split=test", "--min_images=5",
          f"--predictor={variant}/{defence}/predictor.keras", "--attackers=kde,lda"]
  rep = str(tmp_path / "verify.json")
  proc = run_module("verify", [f"--extractor={tfl}", f"--output={rep}", *args], cache)
  r = json.load(open(rep))
  assert r["hash"]["ok"] and r["images"] == 40 and r["privacy"]["kde"]["n_probe"] == 40
  assert set(r["accuracy"]["accuracy"]) == {"Male", "Young"} and "matches the model card" in proc.stdout
  if defence != "dpfe":
    return  # a tampered file and a foreign predictor are refused the same way whatever the defence
  tampered = str(tmp_path / "extractor_conv6_1_int8.tflite")
  data = bytearray(open(tfl, "rb").read())
  data[-100] ^= 1
  open(tampered, "wb").write(data)
  proc = run_module("verify", [f"--extractor={tampered}", f"--card={tfl[:-7]}.json", *args], cache, check=False)
  assert proc.returncode == 1 and "DOES NOT MATCH" in proc.stdout
  other = "simple"
  proc = run_module("verify", [f"--extractor={tfl}", *args[:-2], f"--predictor={variant}/{other}/predictor.keras"],
                    cache, check=False)
  assert proc.returncode == 2 and "different trainings" in proc.stderr


@on_small_run
def test_invert_cli(small_run, tmp_path):
  _, variant, cache, _ = small_run
  rep = str(tmp_path / "inv")
  proc = run_module("invert", [f"--model_dir={variant}", "--source=original,dpfe", "--epochs=1",
                               f"--output_dir={rep}", "--grid_images=4", "--noface_recogniser"], cache)
  inv = json.load(open(os.path.join(rep, "inversion.json")))
  assert [r["source"] for r in inv["results"]] == ["original", "dpfe"]
  assert inv["results"][0]["sent_shape"] == [6, 6, 64] and inv["results"][1]["sent_shape"] == [10]
  assert inv["results"][1]["reidentification"]["moon"]["n_probe"] == 40
  twice = inv["results"][1]["reidentification"]["moon vs reconstructed gallery"]  # gallery reconstructed too
  assert twice["n_probe"] == 40 and 0.0 <= twice["log_rank_privacy"] <= 1.0
  assert proc.stdout.count("re-identification (moon vs reconstructed gallery) from") == 2
  assert proc.stdout.count("re-identification (moon) from") == 3  # two sources and the real-photo ceiling
  assert inv["real_photos"]["moon"]["n_probe"] == 40
  assert open(os.path.join(rep, "reconstructions.png"), "rb").read(4) == b"\x89PNG"


@on_small_run
def test_report_cli_prints_every_table(small_run):
  out, variant, cache, _ = small_run
  proc = run_module("report", [out], cache)
  assert "| conv6_1-GA | dpfe | conv6_1 | GA |" in proc.stdout
  assert "| conv6_1-GA (evaluation) | simple |" in proc.stdout
  # It only reads JSON: the same tables with TensorFlow and Keras impossible to import (0.4 s, not 8).
  assert run_module("report", [out], cache, without_tensorflow=True).stdout == proc.stdout


@needs_celeba_subset
def test_train_on_celeba_subset(tmp_path, cache_dir):
  out = str(tmp_path / "celeba")
  run_train([f"--data_dir={CELEBA_SUBSET}", f"--output_dir={out}", "--image_size=54x44",
             "--batch_size=32", "--images_per_identity=4", "--epochs=1", "--steps_per_epoch=6",
             "--pca_samples=128", "--layer=conv4_2", "--noevaluate"], cache_dir)
  m = json.load(open(os.path.join(out, "conv4_2-G", "dpfe", "metrics.json")))
  assert m["set"]["num_images"] == 719 and m["layer"] == "conv4_2"
  assert m["defence"]["identities_left_out"] >= 1  # the subset has identities with < 4 images
