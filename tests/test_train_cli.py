"""End-to-end runs of ``python -m dpfe_tf.train`` on small settings, and its failure modes."""

import json
import os

import keras
import numpy as np
import pytest

from conftest import CELEBA_SUBSET, needs_celeba_subset
from helpers import run_module, run_train
from dpfe_tf import callbacks, training

SMALL = ["--image_size=32x26", "--batch_size=16", "--images_per_identity=4", "--pca_samples=64"]


@pytest.fixture(scope="module")
def small_run(tiny_faces, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("run"))
  cache = str(tmp_path_factory.mktemp("cache"))
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2",
                    "--layer=conv6_1", "--attributes=GA", "--min_images=5"], cache)
  return out, cache, proc


def test_three_stages_write_models_and_metrics(small_run):
  out, _, proc = small_run
  for stage in ("original", "simple", "dpfe"):
    m = json.load(open(os.path.join(out, stage, "metrics.json")))
    assert m["set"]["attributes"] == ["Male", "Young"]
    assert 0.0 <= m["set"]["mean_accuracy"] <= 1.0 and m["set"]["num_images"] == 40
    assert len(json.load(open(os.path.join(out, stage, "history.json")))["loss"]) == 2
    assert not os.path.exists(os.path.join(out, stage, "checkpoint"))
  assert len(json.load(open(os.path.join(out, "original", "metrics.json")))["all"]["accuracy"]) == 40
  for stage in ("simple", "dpfe"):
    for part in ("extractor", "predictor", "full"):
      assert os.path.isfile(os.path.join(out, stage, f"{part}.keras"))
  dpfe = json.load(open(os.path.join(out, "dpfe", "metrics.json")))
  assert dpfe["y_remover"]["images_per_identity"] == 4 and dpfe["y_remover"]["same_pair_fraction"] == pytest.approx(0.2)
  assert "y_remover" in json.load(open(os.path.join(out, "dpfe", "history.json")))
  summary = proc.stdout.split("Summary")[1]
  assert "dpfe" in summary and "random-guess LRP" in summary
  rows = json.load(open(os.path.join(out, "summary.json")))["rows"]
  assert [r["stage"] for r in rows] == ["original", "original", "simple", "dpfe"]
  assert all(0 <= r["log_rank_privacy"] <= 1 for r in rows[2:])
  assert os.path.isfile(os.path.join(out, "evaluation", "accuracy_vs_log_rank_privacy.png"))


def test_saved_halves_compose_to_the_full_model(small_run):
  out, _, _ = small_run
  ext = training.load_model(os.path.join(out, "dpfe", "extractor.keras"))
  pred = training.load_model(os.path.join(out, "dpfe", "predictor.keras"))
  full = training.load_model(os.path.join(out, "dpfe", "full.keras"))
  assert ext.output_shape == (None, 10) and pred.output_shape == (None, 2)
  x = np.random.default_rng(0).uniform(0, 255, (3, 32, 26, 3)).astype("float32")
  np.testing.assert_allclose(pred(ext(x)), full(x), rtol=1e-5, atol=1e-5)
  # No Lambda layers anywhere: the files load in safe mode and cannot run code.
  assert not any(l.__class__.__name__ == "Lambda" for m in (ext, pred) for l in m.layers)


def test_finished_stages_are_reused(small_run, tiny_faces):
  out, cache, _ = small_run
  before = os.path.getmtime(os.path.join(out, "dpfe", "full.keras"))
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=2",
                    "--layer=conv6_1", "--attributes=GA", "--noevaluate"], cache)
  assert proc.stdout.count("already trained") == 3
  assert os.path.getmtime(os.path.join(out, "dpfe", "full.keras")) == before


def test_missing_data_dir(tmp_path):
  proc = run_train([f"--data_dir={tmp_path}/none", f"--output_dir={tmp_path}/out"], str(tmp_path), check=False)
  assert proc.returncode == 2 and "data dir not found" in proc.stderr


def test_other_runs_artifacts_are_refused(small_run, tiny_faces):
  out, cache, _ = small_run
  proc = run_train([f"--data_dir={tiny_faces}", f"--output_dir={out}", *SMALL, "--epochs=1",
                    "--layer=conv7", "--attributes=GA", "--stage=simple"], cache, check=False)
  assert proc.returncode == 2
  assert "another run's simple stage" in proc.stderr and "layer: saved 'conv6_1', now 'conv7'" in proc.stderr


def test_bad_flags_have_clear_errors(tiny_faces, tmp_path):
  proc = run_train(["--layer=conv9", f"--output_dir={tmp_path}"], str(tmp_path), check=False)
  assert proc.returncode != 0 and "conv4_2" in proc.stderr
  proc = run_train(["--attributes=Male,Beard", f"--data_dir={tiny_faces}", f"--output_dir={tmp_path}"],
                   str(tmp_path), check=False)
  assert proc.returncode == 2 and "unknown attribute 'Beard'" in proc.stderr


def test_interrupted_stage_resumes_from_checkpoint(tiny_faces, tmp_path, cache_dir):
  cfg = training.TrainConfig(output_dir=str(tmp_path / "r"), data_dir=tiny_faces, image_size=(32, 26),
                             batch_size=16, epochs_original=1, steps_per_epoch=2, verbose=0)
  training.run(cfg, ("original",))
  # Make it look as if a 2-epoch run had been killed after epoch 1: a checkpoint, no result.
  d = training.stage_dir(cfg, "original")
  os.makedirs(os.path.join(d, "checkpoint"))
  os.replace(os.path.join(d, "model.keras"), os.path.join(d, "checkpoint", callbacks.CHECKPOINT_MODEL))
  with open(os.path.join(d, "checkpoint", callbacks.CHECKPOINT_STATE), "w") as f:
    json.dump({"epochs_done": 1, "history": {"loss": [0.7]}}, f)
  os.remove(os.path.join(d, "metrics.json"))
  cfg.epochs_original = 2
  training.run(cfg, ("original",))
  hist = json.load(open(os.path.join(d, "history.json")))
  assert len(hist["loss"]) == 2 and hist["loss"][0] == 0.7  # epoch 1 from the checkpoint, epoch 2 new
  assert os.path.isfile(os.path.join(d, "metrics.json")) and not os.path.exists(os.path.join(d, "checkpoint"))


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
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
  state, path = callbacks.EpochCheckpoint.load_state(str(tmp_path))
  assert state["epochs_done"] == 1
  for a, b in zip(keras.saving.load_model(path).get_weights(), good):
    np.testing.assert_array_equal(a, b)


def run_evaluate(args, cache_dir, check=True):
  return run_module("evaluate", args, cache_dir, check)


def test_evaluate_cli_writes_report(small_run, tmp_path):
  out, cache, _ = small_run
  rep = str(tmp_path / "report")
  proc = run_evaluate([f"--model_dir={out}", f"--output_dir={rep}", "--min_images=5", "--noise=0,1,8",
                       "--estimators=kde", "--rotate"], cache)
  ev = json.load(open(os.path.join(rep, "evaluation.json")))
  assert [c["name"] for c in ev["curves"]] == ["simple", "dpfe"] and ev["images"] == 40
  pts = ev["curves"][0]["points"]
  assert [p["r"] for p in pts] == [0.0, 1.0, 8.0]
  assert pts[0]["privacy"]["kde"]["n_probe"] == 40 and pts[0]["privacy"]["kde"]["K"] == 4  # rotated
  assert len(ev["superiority"]) == 2  # log-rank and 1-NN, simple vs dpfe
  for v in ev["superiority"]:
    assert f"{v['measure']}: {v['verdict']}" in proc.stdout
  assert len(open(os.path.join(rep, "evaluation.csv")).read().splitlines()) == 1 + 2 * 3
  for png in ("accuracy_vs_log_rank_privacy.png", "accuracy_vs_1nn_privacy.png", "rank_mean_std.png",
              "rank_guarantee.png"):
    assert open(os.path.join(rep, png), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_with_seeds_pools_and_reports_intervals(small_run, tmp_path):
  out, cache, _ = small_run
  rep = str(tmp_path / "seeds")
  proc = run_evaluate([f"--model_dir={out}", f"--output_dir={rep}", "--seeds=2", "--min_images=5",
                       "--noise=0,4", "--estimators=kde", "--bootstrap=200"], cache)
  assert os.path.isfile(os.path.join(out, "seeds", "seed_1", "dpfe", "extractor.keras"))
  seed1 = json.load(open(os.path.join(out, "seeds", "seed_1", "dpfe", "config.json")))["config"]
  assert seed1["seed"] == 1 and seed1["layer"] == "conv6_1"
  ev = json.load(open(os.path.join(rep, "evaluation.json")))
  assert ev["seeds"] == 2 and ev["rotated"]
  p0 = ev["curves"][1]["points"][0]
  assert p0["privacy"]["kde"]["n_probe"] == 80  # 40 test images, each a probe once, per seed
  lo, hi = p0["interval_95"]["log_rank_privacy"]
  assert lo <= p0["privacy"]["kde"]["log_rank_privacy"] <= hi
  lrp = [v for v in ev["superiority"] if v["measure"] == "log_rank_privacy"][0]
  assert lrp["a"] == "dpfe" and len(lrp["interval"]["first_point_log_rank_gap_ci"]) == 2
  assert "95% intervals" in proc.stdout


def test_evaluate_cli_errors(small_run, tmp_path):
  out, cache, _ = small_run
  proc = run_evaluate([f"--model_dir={tmp_path}"], cache, check=False)
  assert proc.returncode == 2 and "no extractor.keras" in proc.stderr
  proc = run_evaluate([f"--model_dir={out}", "--min_images=50"], cache, check=False)
  assert proc.returncode == 2 and "fewer than 2 identities have more than 50 images" in proc.stderr


def test_export_with_qat_and_verify(small_run, tiny_faces, tmp_path):
  out, cache, _ = small_run
  exp = str(tmp_path / "tflite")
  proc = run_module("export", [f"--model_dir={out}", f"--output_dir={exp}", "--forms=float32,int8", "--qat",
                               "--qat_steps=5", "--min_images=5", "--representative=16"], cache)
  s = json.load(open(os.path.join(exp, "export.json")))
  assert set(s["extractor"]) == {"float32", "int8", "qat_int8"}
  assert s["extractor"]["float32"]["max_abs_feature_diff"] < 1e-3
  assert s["extractor"]["int8"]["size_vs_float32"] < 0.5
  assert set(s["trunks"]) == {"conv4_2", "conv5_1", "conv6_1", "conv7"} and set(s["full"]) == {"float32", "int8"}
  c = json.load(open(os.path.join(exp, "extractor_conv6_1_qat_int8.json")))
  assert c["quantization"]["input"]["dtype"] == "int8" and c["parity"]["images"] == 40 and len(c["sha256"]) == 64
  assert "float32" in proc.stdout and "qat_int8" in proc.stdout
  tfl = os.path.join(exp, "extractor_conv6_1_int8.tflite")
  args = [f"--data_dir={tiny_faces}", "--split=test", "--min_images=5",
          f"--predictor={out}/dpfe/predictor.keras", "--estimators=kde"]
  rep = str(tmp_path / "verify.json")
  proc = run_module("verify", [f"--extractor={tfl}", f"--output={rep}", *args], cache)
  r = json.load(open(rep))
  assert r["hash"]["ok"] and r["images"] == 40 and r["privacy"]["kde"]["n_probe"] == 40
  assert set(r["accuracy"]["accuracy"]) == {"Male", "Young"} and "matches the model card" in proc.stdout
  tampered = str(tmp_path / "extractor_conv6_1_int8.tflite")
  data = bytearray(open(tfl, "rb").read())
  data[-100] ^= 1
  open(tampered, "wb").write(data)
  proc = run_module("verify", [f"--extractor={tampered}", f"--card={tfl[:-7]}.json", *args], cache, check=False)
  assert proc.returncode == 1 and "DOES NOT MATCH" in proc.stdout


def test_invert_cli(small_run, tmp_path):
  out, cache, _ = small_run
  rep = str(tmp_path / "inv")
  proc = run_module("invert", [f"--model_dir={out}", "--source=original,dpfe", "--epochs=1",
                               f"--output_dir={rep}", "--grid_images=4"], cache)
  inv = json.load(open(os.path.join(rep, "inversion.json")))
  assert [r["source"] for r in inv["results"]] == ["original", "dpfe"]
  assert inv["results"][0]["sent_shape"] == [6, 6, 64] and inv["results"][1]["sent_shape"] == [10]
  assert inv["results"][1]["reidentification"]["n_probe"] == 40
  assert proc.stdout.count("re-identification from") == 3  # two sources and the real-photo ceiling
  assert inv["real_photos"]["n_probe"] == 40
  assert open(os.path.join(rep, "reconstructions.png"), "rb").read(4) == b"\x89PNG"


@needs_celeba_subset
def test_train_on_celeba_subset(tmp_path, cache_dir):
  out = str(tmp_path / "celeba")
  run_train([f"--data_dir={CELEBA_SUBSET}", f"--output_dir={out}", "--image_size=54x44",
             "--batch_size=32", "--images_per_identity=4", "--epochs=1", "--steps_per_epoch=6",
             "--pca_samples=128", "--layer=conv4_2", "--noevaluate"], cache_dir)
  m = json.load(open(os.path.join(out, "dpfe", "metrics.json")))
  assert m["set"]["num_images"] == 719 and m["layer"] == "conv4_2"
  assert m["y_remover"]["identities_left_out"] >= 1  # the subset has identities with < 4 images
