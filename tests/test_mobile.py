
import numpy as np
import pytest

from dpfe_tf.mobile import benchmark_output, card, convert, runtime, table
from dpfe_tf.models import moon, separation

SIZE = (32, 26)


# The tests of this file stay on one pytest-xdist worker, so its extractor fixture is built once.
pytestmark = pytest.mark.xdist_group("test_mobile")


@pytest.fixture(scope="module")
def extractor(tiny_faces, tmp_path_factory):
  """An extractor on face images whose batch norms hold the images' statistics (as after training)."""
  from dpfe_tf.data import celeba
  x = np.asarray(celeba.load(tiny_faces, "train", SIZE, cache_dir=str(tmp_path_factory.mktemp("c"))).images,
                 np.float32)[:96]
  import keras
  keras.utils.set_random_seed(0)
  m = separation.build_extractor("conv6_1", SIZE, 4)
  for _ in range(40):  # momentum 0.9: the moving statistics converge to the batch's
    m(x, training=True)
  f = m.predict(x, verbose=0)
  assert 0.5 < f.std() < 2.0
  return m, x


@pytest.fixture(scope="module")
def exported(extractor, tmp_path_factory):
  m, x = extractor
  b1 = convert.batch1_extractor(m, "conv6_1")
  d = tmp_path_factory.mktemp("tfl")
  paths = {}
  for form in convert.FORMS:
    paths[form] = str(d / f"extractor_conv6_1_{form}.tflite")
    with open(paths[form], "wb") as f:
      f.write(convert.convert(b1, form, x[:64]))
  return paths


def test_every_form_runs_close_to_keras(extractor, exported):
  m, x = extractor
  ref = m.predict(x[:20], verbose=0)
  # Largest |TFLite - Keras| as a fraction of the features' standard deviation.
  bounds = {"float32": 1e-4, "float16": 1e-2, "dynamic": 0.3, "int8": 0.5}
  for form, path in exported.items():
    tfl = runtime.TFLiteModel(path)
    assert tfl.input_shape == (1, *SIZE, 3), form
    assert tfl.input_dtype == (np.int8 if form == "int8" else np.float32), form
    err = np.abs(tfl.run(x[:20]) - ref).max() / ref.std()
    assert err <= bounds[form], (form, err)


def test_graphs_end_in_a_real_op(exported):
  for path in exported.values():
    it = runtime.TFLiteModel(path).interpreter
    ops = [o["op_name"] for o in it._get_ops_details()]
    assert ops[-1] not in ("RESHAPE", "FLATTEN", "SQUEEZE"), (path, ops[-3:])


def test_int8_file_is_under_0_3_of_float32():
  m = separation.build_extractor("conv7", (64, 52), 10)
  b1 = convert.batch1_extractor(m, "conv7")
  rep = np.random.default_rng(0).uniform(0, 255, (8, 64, 52, 3)).astype("float32")
  assert len(convert.convert(b1, "int8", rep)) <= 0.3 * len(convert.convert(b1, "float32"))


def test_batch_must_be_one_and_int8_needs_data(extractor):
  m, _ = extractor
  with pytest.raises(ValueError, match="batch 1"):
    convert.convert(m, "float32")
  with pytest.raises(ValueError, match="representative"):
    convert.convert(convert.batch1_extractor(m, "conv6_1"), "int8")


def test_trunk_and_full_rebuilds_copy_every_weight():
  original = moon.build_moon(SIZE, 40)
  t = convert.batch1_trunk(original, "conv5_1")
  full = convert.batch1_full(original)
  x = np.random.default_rng(1).uniform(0, 255, (1, *SIZE, 3)).astype("float32")
  np.testing.assert_allclose(full(x), original(x, training=False), rtol=1e-5, atol=1e-5)
  assert t.output_shape == (1, *moon.cut_shape("conv5_1", SIZE))


def test_model_card_hash(exported, tmp_path):
  path = exported["int8"]
  c = card.make_card(path, "extractor", "int8", "conv6_1", SIZE, attributes=["Male"], feature_dim=4,
                     extractor_id="0123456789ab")
  assert c["extractor_id"] == "0123456789ab"
  assert c["quantization"]["input"]["dtype"] == "int8" and "pixel" in c["input"]["scaling"]
  assert c["sha256"] == runtime.sha256(open(path, "rb").read())
  copy = str(tmp_path / "copy.tflite")
  data = bytearray(open(path, "rb").read())
  open(copy, "wb").write(data)
  assert card.check_hash(copy, c)["ok"]
  data[len(data) // 2] ^= 0xFF
  open(copy, "wb").write(data)
  assert not card.check_hash(copy, c)["ok"]
  assert card.check_hash(copy)["reason"].startswith("no model card")


def test_bad_tflite_input(exported, tmp_path):
  bad = tmp_path / "corrupt.tflite"
  bad.write_bytes(b"\x00" * 64)
  with pytest.raises(runtime.TFLiteError, match="not a valid TFLite model"):
    runtime.TFLiteModel(str(bad))
  tfl = runtime.TFLiteModel(exported["float32"])
  with pytest.raises(runtime.TFLiteError, match=r"input shape \(64, 52, 3\) does not match"):
    tfl.run(np.zeros((1, 64, 52, 3), np.float32))
  q = runtime.TFLiteModel(exported["int8"])
  with pytest.raises(runtime.TFLiteError, match="takes int8 input .* got float data"):
    q.run(np.zeros((1, *SIZE, 3), np.float32), quantize=False)


CURRENT = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/dpfe/trunk_conv4_2_int8.tflite]
INFO: Loaded model /data/local/tmp/dpfe/trunk_conv4_2_int8.tflite
INFO: The input model file size (MB): 0.031224
INFO: Initialized session in 3.337ms.
INFO: Running benchmark for at least 10 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=10 first=81913 curr=55502 min=55502 max=81913 avg=58984.7 std=8115
INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=56576 curr=56299 min=54669 max=60236 avg=56265.8 std=982 p5=55001 median=56100 p95=58810
INFO: Inference timings in us: Init: 3337, First inference: 81913, Warmup (avg): 58984.7, Inference (avg): 56265.8
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=2.43359 overall=8.67578
INFO: Overall peak memory footprint (MB) via periodic monitoring: 13.1797
"""
LOGCAT = ("11-26 10:00:01.123  4242  4242 I tflite  : count=50 first=4098 curr=1690 min=1650 max=1800 avg=1687.92 std=20\n"
          "11-26 10:00:01.124  4242  4242 I tflite  : Inference timings in us: Init: 1007529, First inference: 4098, "
          "Warmup (avg): 1686.59, Inference (avg): 1687.92\n")
OLD = ("Loaded model mobilenet.tflite\nresolved reporter\nInitialized session in 4.453ms\n"
       "count=50 first=110052 curr=93929 min=92131 max=110052 avg=93929 std=2850\n"
       "Average inference timings in us: Warmup: 96578.7, Init: 4453, no stats: 93929\n")
FAILED = "INFO: Created TensorFlow Lite delegate for GPU.\nERROR: Failed to apply GPU delegate.\nBenchmarking failed.\n"


def test_parser_on_recorded_outputs():
  r = benchmark_output.parse(CURRENT)
  assert r.ok and (r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us) == (3337, 81913, 58984.7, 56265.8)
  assert (r.runs, r.min_us, r.max_us, r.std_us, r.median_us) == (50, 54669, 60236, 982, 56100)
  assert (r.memory_init_delta_mb, r.memory_overall_delta_mb, r.peak_memory_mb) == (2.43359, 8.67578, 13.1797)
  assert r.model_size_mb == 0.031224
  r = benchmark_output.parse(LOGCAT)
  assert r.ok and r.inference_avg_us == 1687.92 and r.init_us == 1007529 and r.runs == 50 and r.peak_memory_mb is None
  r = benchmark_output.parse(OLD)
  assert r.ok and (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (96578.7, 4453, 93929) and r.max_us == 110052
  r = benchmark_output.parse(FAILED)
  assert not r.ok and "Failed to apply GPU delegate" in r.error


def test_figure_11_table_relative_to_conv4_2():
  recs = {f"trunk_{l}_int8.tflite": benchmark_output.BenchmarkRecord(inference_avg_us=t, memory_overall_delta_mb=m)
          for l, t, m in [("conv4_2", 1000, 10.0), ("conv5_1", 1500, 12.0), ("conv7", 3000, 20.0)]}
  recs["moon_full_int8.tflite"] = benchmark_output.BenchmarkRecord(inference_avg_us=4000, memory_overall_delta_mb=25.0)
  text = table.figure_11(recs)
  assert "+50.0%" in text and "+20.0%" in text and "+300.0%" in text and "+150.0%" in text
  assert "+90.81% / +35.05%" in text
  assert table.describe("extractor_conv7_qat_int8.tflite") == ("extractor", "conv7", "qat_int8")


def test_parse_android_cli(tmp_path, capsys):
  from dpfe_tf.mobile import parse_android
  (tmp_path / "trunk_conv4_2_int8.txt").write_text(CURRENT)
  (tmp_path / "trunk_conv5_1_int8.txt").write_text(CURRENT.replace("Inference (avg): 56265.8", "Inference (avg): 61892.4"))
  assert parse_android.main(["x", str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert "trunk_conv4_2_int8" in out and "+10.0%" in out
