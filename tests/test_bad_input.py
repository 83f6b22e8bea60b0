"""Every command with bad input (issue 12): one ``error:`` line, exit code 2, no traceback, nothing lost.

Table-driven: each case is a command line and the words its one-line error must contain. The
data-loss cases check that the files are still there afterwards."""

import json
import os
import random
import shutil

import numpy as np
import pytest

from dpfe_tf import config, io_utils, run_dir
from dpfe_tf.data import celeba
from dpfe_tf.training import callbacks, stages
from helpers import run_module

TINY = ["--image_size=32x26", "--batch_size=16", "--images_per_identity=4", "--pca_samples=64", "--epochs=1",
        "--steps_per_epoch=2"]


# The tests of this file stay on one pytest-xdist worker, so its trained fixture is built once.
pytestmark = pytest.mark.xdist_group("test_bad_input")


@pytest.fixture(scope="module")
def trained(tiny_faces, tmp_path_factory):
  """A tiny trained run (original, simple, dpfe) built in-process."""
  out = str(tmp_path_factory.mktemp("bad"))
  cache = str(tmp_path_factory.mktemp("cache"))
  os.environ["DPFE_TF_CACHE"] = cache
  cfg = config.TrainConfig(output_dir=out, data=config.DataConfig(tiny_faces, (32, 26), cache), layer="conv6_1",
                           batch_size=16, images_per_identity=4, pca_samples=64, epochs_original=1, epochs_simple=1,
                           epochs_defence=1, steps_per_epoch=2, verbose=0)
  stages.run(cfg)
  return out, os.path.join(out, cfg.variant), cache, cfg


def _one_line_error(proc, *words):
  err = proc.stderr.strip()
  assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-2000:])
  assert "Traceback" not in err, err[-3000:]
  lines = err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
  for w in words:
    assert w in lines[0], (w, lines[0])
  return lines[0]


# (command, arguments, words the error line must contain); {data}, {run}, {variant} are filled in.
CASES = [
    ("train", ["--epochs=0"], ["--epochs must be a positive whole number"]),
    ("train", ["--epochs_defence=-3"], ["epochs_defence must be a positive whole number"]),
    ("train", ["--image_size=10x10"], ["between 16 and 4096"]),
    ("train", ["--image_size=0x0"], ["between 16 and 4096"]),
    ("train", ["--image_size=abc"], ["must be HxW"]),
    ("train", ["--image_size=-32x26"], ["between 16 and 4096"]),
    ("train", ["--limit=-5"], ["limit must be a positive whole number"]),
    ("train", ["--steps_per_epoch=0"], ["steps_per_epoch must be a positive whole number"]),
    ("train", ["--steps_per_epoch=-1"], ["steps_per_epoch must be a positive whole number"]),
    ("train", ["--images_per_identity=0"], ["images_per_identity must be a whole number >= 2"]),
    ("train", ["--pca_samples=0"], ["pca_samples must be a positive whole number"]),
    ("train", ["--margin=nan"], ["margin must be a finite number > 0"]),
    ("train", ["--beta=inf"], ["beta must be a finite number >= 0"]),
    ("train", ["--beta=lots"], ["beta must be a number or 'auto'"]),
    ("train", ["--defence=pca"], ["unknown defence 'pca'; choose one of simple, dpfe, dpfe_whitened, dpfe_conditional, dpfe_score, adversarial, nopeek"]),
    ("train", ["--defence=nopeek", "--margin=3"], ["--margin applies to the dpfe defence only"]),
    ("train", ["--tpu=my-tpu"], ["--tpu applies to --strategy=tpu only"]),
    ("train", ["--cpu_replicas=2"], ["--cpu_replicas applies to --strategy=mirrored only"]),
    ("train", ["--stage=original", "--original_model=x.keras"], ["nothing to do"]),
    ("train", ["--seeds=3", "--noevaluate"], ["--seeds=3 trains the extra seeds during the evaluation"]),
    ("train", ["--data_dir={data}/missing"], ["data dir not found"]),
    ("train", ["--output_dir={data}/list_attr_celeba.txt/x", "--data_dir={data}", *TINY], ["Not a directory"]),
    ("evaluate", ["--model_dir={variant}", "--probe_fraction=1.5"], ["probe_fraction must be in (0, 0.5]"]),
    ("evaluate", ["--model_dir={variant}", "--probe_fraction=0"], ["probe_fraction must be in (0, 0.5]"]),
    ("evaluate", ["--model_dir={variant}", "--bootstrap=0"], ["bootstrap must be a positive whole number"]),
    ("evaluate", ["--model_dir={variant}", "--seeds=0"], ["seeds must be a positive whole number"]),
    ("evaluate", ["--model_dir={variant}", "--seeds_retrain=original"], ["--seeds_retrain=original trains the extra "
                                                                         "seeds again", "give --seeds=2 or more"]),
    ("evaluate", ["--seeds_retrain=everything"], ["flag --seeds_retrain=everything: value should be one of"]),
    ("evaluate", ["--model_dir={variant}", "--noise=0,x"], ["--noise must be a comma list of numbers"]),
    ("evaluate", ["--model_dir={variant}", "--noise=1,0"], ["increasing"]),
    ("evaluate", ["--model_dir={variant}", "--attackers=oracle"], ["unknown attacker(s) oracle"]),
    ("invert", ["--model_dir={variant}", "--batch_size=0"], ["batch_size must be a positive whole number"]),
    ("invert", ["--model_dir={variant}", "--grid_images=-2"], ["grid_images must be a whole number >= 0"]),
    ("invert", ["--model_dir={variant}", "--epochs=0"], ["epochs must be a positive whole number"]),
    ("invert", ["--model_dir={variant}", "--source=pixels"], ["sources to invert must be original, simple or a defence"]),
    ("export", ["--model_dir={variant}", "--parity_images=0"], ["parity_images must be a positive whole number"]),
    ("export", ["--model_dir={variant}", "--forms=float64"], ["unknown TFLite form"]),
    ("export", ["--model_dir={data}/nothing"], ["no such folder"]),
    ("export", ["--model_dir={variant}", "--stage=nopeek"], ["no finished nopeek stage"]),
    ("invert", ["--model_dir={data}/nothing"], ["no such folder"]),
    ("invert", ["--model_dir={variant}", "--source=nopeek"], ["no finished nopeek stage"]),
    ("invert", ["--model_dir={variant}/simple"], ["not a variant folder"]),
    ("operating_point", ["--model_dir={data}/nothing"], ["no such folder"]),
    ("operating_point", ["--model_dir={variant}/simple"], ["is the simple stage"]),
    ("compare", ["--defences=simple,pca"], ["unknown defence 'pca'"]),
    ("compare", ["--defences=simple,nopeek", "--against=dpfe"], ["--against=dpfe is not among --defences"]),
    ("report", ["{data}/nothing"], ["no such folder"]),
    ("verify", ["--extractor=x.tflite", "--data_dir={data}", "--attackers=lda,embedding"],
     ["verify has no public people", "not embedding"]),
    # What absl itself refuses while parsing, and stray words: the same one line, not absl's FATAL and usage.
    ("train", ["--layer=conv9"], ["flag --layer=conv9: value should be one of", "--helpshort lists the flags"]),
    ("train", ["--nosuchflag"], ["Unknown command line flag 'nosuchflag'"]),
    ("evaluate", ["--seeds=abc"], ["flag --seeds=abc: invalid literal"]),
    ("evaluate", ["{variant}"], ["unexpected arguments:", "flags are written --name=value"]),
    ("verify", [], ["--extractor is required; --data_dir is required"]),
    ("report", [], ["name one or more run or variant folders"]),
]


# Found only when the work starts (the output folder is made then); every other case is refused
# with the configuration, before TensorFlow starts: these run with TensorFlow impossible to import.
AFTER_TENSORFLOW = ("--output_dir={data}/list_attr_celeba.txt/x",)


@pytest.mark.parametrize("command,args,words", CASES, ids=[f"{c}{' '.join(a)}" for c, a, _ in CASES])
def test_bad_input_is_one_line(trained, tiny_faces, command, args, words):
  out, variant, cache, _ = trained
  early = not args or args[0] not in AFTER_TENSORFLOW
  args = [a.format(data=tiny_faces, run=out, variant=variant) for a in args]
  _one_line_error(run_module(command, args, cache, check=False, without_tensorflow=early), *words)


@pytest.mark.parametrize("command", ["evaluate", "export", "invert", "operating_point"])
def test_given_no_model_dir_before_any_training_says_to_train_first(tmp_path, command):
  """A command given no --model_dir works on what the default training writes (runs/demo/conv7-G in
  the working folder); before it exists, one line says so, before TensorFlow starts."""
  proc = run_module(command, [], str(tmp_path / "cache"), check=False, without_tensorflow=True, cwd=tmp_path)
  line = _one_line_error(proc, "no --model_dir given", "train first (python -m dpfe_tf.train)")
  assert os.path.join(str(tmp_path), "runs", "demo", "conv7-G") in line


def test_given_no_model_dir_the_commands_find_the_default_runs_stages(trained, tmp_path, monkeypatch):
  _, variant, _, _ = trained
  os.makedirs(tmp_path / "runs" / "demo")
  os.symlink(variant, tmp_path / "runs" / "demo" / "conv7-G")
  monkeypatch.chdir(tmp_path)
  default = os.path.join(str(tmp_path), "runs", "demo", "conv7-G")
  assert run_dir.default_variant() == default
  assert run_dir.default_defended_stage() == os.path.join(default, "dpfe")
  assert run_dir.stage_at(run_dir.default_variant(), config.ExportConfig.stage).name == "dpfe"   # export's
  assert [s.name for s in run_dir.stages_at(run_dir.default_variant())] == ["simple", "dpfe"]   # evaluate's
  assert run_dir.defended_stage(run_dir.default_defended_stage()).name == "dpfe"   # operating_point's


def test_damaged_model_files_name_the_file_and_what_to_do(trained, tmp_path):
  out, variant, cache, cfg = trained
  copy = str(tmp_path / "copy")
  shutil.copytree(variant, copy)
  path = os.path.join(copy, "dpfe", "extractor.keras")
  data = bytearray(open(path, "rb").read())
  data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # flipped bytes
  open(path, "wb").write(data)
  line = _one_line_error(run_module("evaluate", [f"--model_dir={copy}"], cache, check=False), path,
                         "delete it")
  open(path, "wb").write(bytes(data[:1000]))  # truncated
  line = _one_line_error(run_module("evaluate", [f"--model_dir={copy}"], cache, check=False), path)
  assert "not found" not in line


def test_a_damaged_checkpoint_is_named(trained, tiny_faces, tmp_path):
  out, variant, cache, cfg = trained
  run = str(tmp_path / "r")
  ck = os.path.join(run, "original", "checkpoint", "epoch-0001")
  os.makedirs(ck)
  same = config.TrainConfig(output_dir=run, data=config.DataConfig(tiny_faces, (32, 26)), batch_size=16,
                            images_per_identity=4, pca_samples=64, epochs_original=1, epochs_simple=1,
                            epochs_defence=1, steps_per_epoch=2)
  run_dir.RunDir(run).original.write_config(stages.identity(same, "original"), same, "in progress")
  open(os.path.join(ck, "state.json"), "w").write("{not json")
  open(os.path.join(ck, "model.keras"), "w").write("x")
  proc = run_module("train", [f"--data_dir={tiny_faces}", f"--output_dir={run}", *TINY], cache, check=False)
  _one_line_error(proc, os.path.join(ck, "state.json"), "not valid JSON")
  open(os.path.join(ck, "state.json"), "w").write('{"epochs_done": 1, "history": {}}')
  proc = run_module("train", [f"--data_dir={tiny_faces}", f"--output_dir={run}", *TINY], cache, check=False)
  _one_line_error(proc, os.path.join(ck, "model.keras"), "delete it")


def test_a_second_run_into_a_busy_folder_says_who_holds_it(trained, tiny_faces):
  out, variant, cache, _ = trained
  args = [f"--data_dir={tiny_faces}", f"--output_dir={out}", "--layer=conv6_1", "--noevaluate", *TINY]
  with io_utils.RunLock(variant):
    proc = run_module("train", args, cache, check=False)
  _one_line_error(proc, "in use by another dpfe_tf run", f"pid {os.getpid()}")
  # Another variant's run holds the run folder only while the original MOON trains: with it trained,
  # this variant's stages go ahead.
  with io_utils.RunLock(out):
    proc = run_module("train", args, cache, check=False)
  assert proc.returncode == 0 and "already trained" in proc.stdout, proc.stderr[-500:]


def test_overwrite_moves_the_tools_files_aside_and_keeps_the_users(trained, tiny_faces):
  out, variant, cache, cfg = trained
  stage = os.path.join(variant, "dpfe")
  os.makedirs(os.path.join(stage, "tflite"))
  open(os.path.join(stage, "tflite", "extractor.tflite"), "w").write("an export")
  open(os.path.join(stage, "my_notes.txt"), "w").write("mine")
  old_history = open(os.path.join(stage, "history.json")).read()
  run_module("train", [f"--data_dir={tiny_faces}", f"--output_dir={out}", "--layer=conv6_1", *TINY, "--beta=0.5",
                       "--overwrite", "--noevaluate"], cache)
  aside = [d for d in os.listdir(variant) if d.startswith("dpfe.replaced-")]
  assert len(aside) == 1
  assert open(os.path.join(variant, aside[0], "history.json")).read() == old_history
  assert open(os.path.join(stage, "my_notes.txt")).read() == "mine"                 # never the user's file
  assert open(os.path.join(stage, "tflite", "extractor.tflite")).read() == "an export"
  assert json.load(open(os.path.join(stage, "metrics.json")))["defence"]["beta"] == 0.5


def test_mismatched_halves_in_one_stage_folder_are_refused(trained, tmp_path):
  out, variant, cache, cfg = trained
  copy = str(tmp_path / "mixed")
  shutil.copytree(variant, copy)
  shutil.copy(os.path.join(variant, "simple", "predictor.keras"), os.path.join(copy, "dpfe", "predictor.keras"))
  _one_line_error(run_module("evaluate", [f"--model_dir={copy}/dpfe"], cache, check=False), "different trainings")


def test_verify_with_a_card_that_is_a_json_list(trained, tiny_faces, tmp_path):
  out, variant, cache, _ = trained
  run_module("export", [f"--model_dir={variant}", "--forms=float32", "--notrunks", "--min_images=5",
                        f"--output_dir={tmp_path}"], cache)
  card = str(tmp_path / "list.json")
  open(card, "w").write("[1, 2]")
  proc = run_module("verify", [f"--extractor={tmp_path}/extractor_conv6_1_float32.tflite", f"--card={card}",
                               f"--data_dir={tiny_faces}", "--min_images=5"], cache, check=False)
  _one_line_error(proc, card, "expected a JSON dict")


def test_report_on_a_malformed_metrics_file(trained, tmp_path):
  out, variant, cache, _ = trained
  copy = str(tmp_path / "run")
  shutil.copytree(out, copy)
  bad = os.path.join(copy, "conv6_1-G", "dpfe", "metrics.json")
  open(bad, "w").write('{"stage": ')
  _one_line_error(run_module("report", [copy], cache, check=False, without_tensorflow=True), bad, "not valid JSON")


def test_outputs_respect_the_umask(trained):
  out, variant, _, _ = trained
  want = 0o666 & ~io_utils.UMASK
  for f in ("metrics.json", "config.json", "extractor.keras", "history.json"):
    assert os.stat(os.path.join(variant, "dpfe", f)).st_mode & 0o777 == want, f


def test_a_half_written_checkpoint_is_never_read(tmp_path):
  ck = str(tmp_path / "checkpoint")
  os.makedirs(os.path.join(ck, ".tmp-x"))          # a write killed before its rename
  open(os.path.join(ck, ".tmp-x", "state.json"), "w").write('{"epochs_done": 9, "history": {}}')
  assert callbacks.latest(ck) == (None, None)
  os.makedirs(os.path.join(ck, "epoch-0002"))
  open(os.path.join(ck, "epoch-0002", "state.json"), "w").write('{"epochs_done": 2, "history": {"loss": [1, 2]}}')
  state, model = callbacks.latest(ck)
  assert state["epochs_done"] == 2 and model.endswith(os.path.join("epoch-0002", "model.keras"))


def test_a_failed_card_leaves_no_model_file(tmp_path):
  from dpfe_tf.mobile import export

  def broken_card(tmp):
    raise ValueError("parity failed")
  target = str(tmp_path / "extractor_conv7_int8.tflite")
  with pytest.raises(ValueError, match="parity failed"):
    export._write_with_card(b"model bytes", target, broken_card)
  assert os.listdir(tmp_path) == []


def test_a_missing_privacy_figure_says_why():
  from dpfe_tf.mobile import parity
  rng = np.random.default_rng(0)
  f = np.zeros((40, 3), np.float32)  # constant features: no density can be fitted
  ids = np.repeat(np.arange(2), 20)
  par = parity.parity(f, f, lambda x: np.zeros((len(x), 1)), labels=np.zeros((40, 1)), attribute_names=["Male"],
                      identities=ids, min_images=5)
  assert par["log_rank_privacy_change"] is None and "singular" in par["log_rank_privacy_missing"]
  assert rng is not None


# ---- the data readers


@pytest.mark.parametrize("name", ["../../x.jpg", "/etc/passwd", "img/../../x.jpg", ".."])
def test_image_names_that_leave_the_image_folder_are_refused(tiny_faces, tmp_path, name):
  d = str(tmp_path / "faces")
  os.makedirs(d)
  for f in (celeba.ATTR_FILE, celeba.IDENTITY_FILE, celeba.PARTITION_FILE):
    shutil.copy(os.path.join(tiny_faces, f), d)
  path = os.path.join(d, celeba.IDENTITY_FILE)
  lines = open(path).read().splitlines()
  lines[2] = f"{name} 5"
  open(path, "w").write("\n".join(lines) + "\n")
  with pytest.raises(celeba.DataError, match=r"identity_CelebA.txt:3: image name .* is not a file name inside"):
    celeba.read_annotations(d)


def test_stale_decode_cache_is_rebuilt_and_says_so(tiny_faces, tmp_path, caplog):
  d = str(tmp_path / "faces")
  shutil.copytree(tiny_faces, d)
  cache = str(tmp_path / "cache")
  first = celeba.load(d, "train", (32, 26), cache_dir=cache, max_bad_fraction=0.1)
  files = first.filenames
  path = os.path.join(d, celeba.IMAGE_DIR, files[0])
  open(path, "wb").write(open(path, "rb").read()[:300])  # truncated
  os.remove(os.path.join(d, celeba.IMAGE_DIR, files[1]))
  with caplog.at_level("WARNING"):
    again = celeba.load(d, "train", (32, 26), cache_dir=cache, max_bad_fraction=0.1)
  assert "changed since they were cached" in caplog.text
  assert files[1] in again.skipped and len(again) < len(first)
  assert files[1] not in again.filenames


def test_annotation_fuzz_gives_clear_errors_or_correct_reads(tiny_faces, tmp_path):
  """Random mutations of random lines: every read either succeeds or raises DataError naming the file."""
  rng = random.Random(0)
  base = {f: open(os.path.join(tiny_faces, f)).read().splitlines()
          for f in (celeba.ATTR_FILE, celeba.IDENTITY_FILE, celeba.PARTITION_FILE)}
  mutations = [lambda l: "", lambda l: l + " 1", lambda l: l.replace("1", "x", 1), lambda l: l[: len(l) // 2],
               lambda l: l.replace(" ", "\t"), lambda l: "\x00" + l, lambda l: l.replace(".jpg", "/../a.jpg"),
               lambda l: l.replace("-1", "2", 1), lambda l: "999999 " + l, lambda l: l.upper()]
  d = str(tmp_path / "fuzz")
  os.makedirs(d)
  outcomes = {"read": 0, "error": 0}
  for trial in range(150):
    for f, lines in base.items():
      open(os.path.join(d, f), "w").write("\n".join(lines) + "\n")
    f = rng.choice(list(base))
    lines = list(base[f])
    i = rng.randrange(len(lines))
    lines[i] = rng.choice(mutations)(lines[i])
    open(os.path.join(d, f), "w").write("\n".join(lines) + "\n")
    try:
      ann = celeba.read_annotations(d)
    except celeba.DataError as e:
      assert os.path.basename(f) in str(e) or "celeba" in str(e).lower(), str(e)
      outcomes["error"] += 1
      continue
    assert len(ann.filenames) == len(ann.identities) == len(ann.partitions) == len(ann.attributes)
    assert set(np.unique(ann.attributes)) <= {0, 1} and set(np.unique(ann.partitions)) <= {0, 1, 2}
    assert all(n == os.path.basename(n) for n in ann.filenames)
    outcomes["read"] += 1
  assert outcomes["error"] > 20 and outcomes["read"] > 5


def test_a_stage_trained_on_other_demo_faces_is_refused_by_the_evaluation(tmp_path):
  """After the demo faces change version, an old run's models would be evaluated on other people
  (and its attackers trained on other public ones) without a word: refused, saying which faces."""
  from dpfe_tf.data import synthetic
  from dpfe_tf.privacy import evaluation
  stage = run_dir.Stage(str(tmp_path / "conv7-G" / "dpfe"))
  os.makedirs(stage.path)
  old = "synthetic-faces-v4-240x6-26-v30-t30-e16-24-s0-k0.2"
  io_utils.write_json(stage.file("config.json"), {"identity": {"simple": {"data": f"synthetic:{old}"}}})
  with pytest.raises(ValueError, match=f"trained on other demo faces \\({old}; this version draws "
                                       f"{synthetic.SyntheticSpec().name}\\): train it again"):
    evaluation.check_demo_faces(stage, config.DataConfig())
  # the faces of this version pass, and so does a model evaluated on a CelebA-layout folder
  io_utils.write_json(stage.file("config.json"), {"identity": {"data": config.DataConfig().identity}})
  evaluation.check_demo_faces(stage, config.DataConfig())
  io_utils.write_json(stage.file("config.json"), {"identity": {"data": "/data/celeba"}})
  evaluation.check_demo_faces(stage, config.DataConfig("/data/celeba"))
