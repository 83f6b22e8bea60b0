"""Configurations round-trip through JSON and are checked on creation; the run folder's layout."""

import dataclasses
import os

import pytest

from dpfe_tf import config, io_utils, run_dir


def test_train_config_round_trips_through_json():
  cfg = config.TrainConfig(data=config.DataConfig("/data/celeba", "54x44"), layer="conv4_2", attributes="ga",
                           defence=config.DefenceConfig(name="nopeek", beta="auto", beta_candidates=(1, 3)))
  back = config.from_dict(config.TrainConfig, config.to_dict(cfg))
  assert back == cfg and back.attributes == "GA" and back.data.image_size == (54, 44)
  assert back.defence.beta_candidates == (1.0, 3.0) and back.variant == "conv4_2-GA"
  assert cfg.output_dir == os.path.abspath(os.path.join("runs", "celeba"))  # runs/<data name>
  assert config.TrainConfig().output_dir.endswith(os.path.join("runs", "demo"))
  with pytest.raises(ValueError, match="unknown TrainConfig field"):
    config.from_dict(config.TrainConfig, {**config.to_dict(cfg), "learning_rate": 1})


def test_every_default_is_written_once():
  """The flags take their defaults from the dataclasses (no second copy to drift)."""
  from absl import flags
  from dpfe_tf import flags as dflags
  dflags.training()
  dflags.evaluation()
  F = flags.FLAGS
  for name in ("batch_size", "epochs_original", "lr_defence", "pca_samples", "same_pair_fraction", "layer"):
    assert F[name].default == getattr(config.TrainConfig, name), name
  assert F["min_images"].default == config.DEFAULT_MIN_IMAGES == config.EvalConfig.min_images
  assert [float(v) for v in F["noise"].default] == list(config.DEFAULT_NOISE_GRID)
  assert F["feature_noise"].default == config.DefenceConfig.feature_noise == 0.0
  assert F["feature_noise_shape"].default == config.DefenceConfig.feature_noise_shape == "isotropic"
  assert F["noise_shape"].default == config.EvalConfig.noise_shape and F["operating_noise"].default is None


def test_noise_aware_fine_tuning_is_checked_and_part_of_the_defence_stages_identity():
  from dpfe_tf.training import stages
  with pytest.raises(ValueError, match="feature_noise must be a finite number >= 0, got -1.0"):
    config.DefenceConfig(feature_noise=-1)
  plain = stages.identity(config.TrainConfig(), "dpfe")
  noisy = stages.identity(config.TrainConfig(defence=config.DefenceConfig(feature_noise=2)), "dpfe")
  assert "feature_noise" not in plain and noisy["feature_noise"] == 2.0   # old runs keep their identity
  assert stages.identity(config.TrainConfig(defence=config.DefenceConfig(feature_noise=2)), "simple") == \
      stages.identity(config.TrainConfig(), "simple")                       # Simple is not retrained
  with pytest.raises(ValueError, match="unknown feature_noise_shape 'round'; choose one of isotropic, predictor"):
    config.DefenceConfig(feature_noise=1, feature_noise_shape="round")
  with pytest.raises(ValueError, match="shapes the training noise: give feature_noise > 0 too"):
    config.DefenceConfig(feature_noise_shape="predictor")
  shaped = stages.identity(config.TrainConfig(defence=config.DefenceConfig(feature_noise=2,
                                                                           feature_noise_shape="predictor")), "dpfe")
  assert shaped["feature_noise_shape"] == "predictor" and "feature_noise_shape" not in noisy


def test_stage_identity_lists_what_differs(tmp_path):
  stage = run_dir.Stage(str(tmp_path / "dpfe"))
  os.makedirs(stage.path)
  cfg = config.TrainConfig(output_dir=str(tmp_path))
  stage.write_config({"epochs": 4, "simple": {"lr": 3e-4}}, cfg, "done")
  stage.check({"epochs": 4, "simple": {"lr": 3e-4}}, overwrite=False)  # the same: accepted
  with pytest.raises(run_dir.ConfigMismatch, match=r"epochs: saved 4, now 8; simple.lr: saved 0.0003, now 0.001"):
    stage.check({"epochs": 8, "simple": {"lr": 1e-3}}, overwrite=False)


def test_a_given_original_counts_by_its_content_not_where_it_was(tmp_path):
  stage = run_dir.Stage(str(tmp_path / "dpfe"))
  os.makedirs(stage.path)
  saved = {"simple": {"original": {"path": "/old/run/original/model.keras", "sha256": "abc"}}}
  stage.write_config(saved, config.TrainConfig(output_dir=str(tmp_path)), "done")
  stage.check({"simple": {"original": {"path": "/new/run/original/model.keras", "sha256": "abc"}}}, overwrite=False)
  with pytest.raises(run_dir.ConfigMismatch, match="simple.original.sha256: saved 'abc', now 'def'"):
    stage.check({"simple": {"original": {"path": "/old/run/original/model.keras", "sha256": "def"}}},
                overwrite=False)
  with pytest.raises(run_dir.ConfigMismatch, match="simple.original.path"):  # no file to compare: the path counts
    stage.check({"simple": {"original": {"path": "/new/run/original/model.keras", "sha256": None}}},
                overwrite=False)


def _finished_stage(path, cfg):
  stage = run_dir.Stage(str(path), os.path.basename(str(path)))
  os.makedirs(stage.path)
  stage.write_config({}, cfg, "done")
  stage.write_metrics({})
  return stage


def test_a_moved_run_folder_finds_its_own_original(tmp_path):
  """The original MOON of a stage follows the run folder (seeds, export and inversion load it)."""
  old = tmp_path / "runs" / "demo"
  cfg = config.TrainConfig(output_dir=str(old))
  _finished_stage(old / "original", cfg)
  simple = _finished_stage(old / cfg.variant / "simple", cfg)
  assert run_dir.original_of(simple) == str(old / "original" / "model.keras")
  new = tmp_path / "elsewhere" / "demo-moved"
  os.makedirs(new.parent)
  os.rename(old, new)
  moved = run_dir.Stage(str(new / cfg.variant / "simple"), "simple")
  assert run_dir.original_of(moved) == str(new / "original" / "model.keras")
  # a seed with its own original MOON is a run folder of its own
  seed = tmp_path / "v" / "seeds" / "own_original" / "seed_1"
  seed_cfg = config.TrainConfig(output_dir=str(seed), seed=1)
  _finished_stage(seed / "original", seed_cfg)
  assert run_dir.original_of(_finished_stage(seed / "simple", seed_cfg)) == str(seed / "original" / "model.keras")
  # a stage copied without its original still names the one it was trained from; a given one stays given
  lone = _finished_stage(tmp_path / "copy" / cfg.variant / "simple", config.TrainConfig(output_dir=str(new)))
  assert run_dir.original_of(lone) == str(new / "original" / "model.keras")
  given = _finished_stage(tmp_path / "g" / cfg.variant / "simple",
                          config.TrainConfig(output_dir=str(tmp_path / "g"), original_model="/models/moon.keras"))
  assert run_dir.original_of(given) == "/models/moon.keras"


def test_a_seed_of_a_moved_run_finds_the_original_it_was_cut_from(tmp_path):
  """A seed cut from its run's original names that file by path; after the run folder moves, the
  run's original in the new place is used if it is the same file (by sha256), and only then."""
  old = tmp_path / "runs" / "demo"
  cfg = config.TrainConfig(output_dir=str(old))
  original = _finished_stage(old / "original", cfg)
  with open(original.model_path("model"), "wb") as f:
    f.write(b"the original MOON")
  given = original.model_path("model")
  seed_cfg = cfg.for_seed(1, given)
  seed_dir = old / cfg.variant / "seeds" / "seed_1" / "simple"
  os.makedirs(seed_dir)
  seed = run_dir.Stage(str(seed_dir), "simple")
  seed.write_config({"original": {"path": given, "sha256": io_utils.file_sha256(given)}}, seed_cfg, "done")
  seed.write_metrics({})
  assert run_dir.original_of(seed) == given
  new = tmp_path / "moved"
  os.rename(old, new)
  moved = run_dir.Stage(str(new / cfg.variant / "seeds" / "seed_1" / "simple"), "simple")
  assert run_dir.original_of(moved) == str(new / "original" / "model.keras")
  with open(new / "original" / "model.keras", "wb") as f:   # another original now: not the one it was cut from
    f.write(b"another MOON")
  assert run_dir.original_of(moved) == given


def test_stages_at_finds_a_variant_or_explains(tmp_path):
  with pytest.raises(FileNotFoundError, match="no trained extractor.keras"):
    run_dir.stages_at(str(tmp_path))
  for v in ("conv7-G", "conv4_2-G"):
    d = tmp_path / v / "simple"
    os.makedirs(d)
    for f in ("extractor.keras", "predictor.keras", "metrics.json"):
      open(d / f, "w").close()
  with pytest.raises(ValueError, match="several trained variants .conv4_2-G, conv7-G."):
    run_dir.stages_at(str(tmp_path))
  assert [s.name for s in run_dir.stages_at(str(tmp_path / "conv7-G"))] == ["simple"]
  assert dataclasses.is_dataclass(config.EvalConfig(model_dirs=("x",)))
