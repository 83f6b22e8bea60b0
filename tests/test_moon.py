import numpy as np
import pytest

from dpfe_tf.models import moon

# The table: (H, W, C) at 218x178 input.
TABLE = {
    "conv1": (218, 178, 16), "pool1": (109, 89, 16), "conv2": (109, 89, 32), "pool2": (55, 45, 32),
    "conv3": (57, 47, 16), "pool3": (29, 24, 16), "conv4_1": (29, 24, 128), "conv4_2": (31, 26, 16),
    "conv4_3": (31, 26, 128), "pool4": (16, 13, 128), "conv5_1": (18, 15, 32), "conv5_2": (18, 15, 256),
    "conv5_3": (20, 17, 32), "conv5_4": (20, 17, 256), "pool5": (10, 9, 256), "conv6_1": (12, 11, 64),
    "conv6_2": (12, 11, 512), "conv6_3": (14, 13, 64), "conv6_4": (14, 13, 512), "conv7": (16, 15, 128),
    "conv8": (18, 17, 1000),
}


@pytest.fixture(scope="module")
def full_moon():
  return moon.build_moon(moon.FULL_IMAGE_SIZE, 40)


def test_geometry_table_at_full_size(full_moon):
  for name, shape in TABLE.items():
    assert tuple(full_moon.get_layer(name).output.shape[1:]) == shape, name
    if name.startswith("conv"):
      assert moon.cut_shape(name) == shape
  assert tuple(full_moon.output.shape) == (None, 40)


def test_parameter_count(full_moon):
  trainable = sum(int(np.prod(w.shape)) for w in full_moon.trainable_weights)
  assert trainable == 1_116_760  # "about 1.12 M"
  # Batch norms carry no trainable scale/shift, convolutions no bias.
  assert all(not l.weights or l.name.startswith(("conv", "moon-fc"))
             for l in full_moon.layers if l.trainable_weights)


def test_cuts_are_raw_conv_outputs(full_moon):
  for layer in moon.PAPER_CUT_LAYERS:
    assert full_moon.get_layer(layer).__class__.__name__ == "Conv2D"
    assert full_moon.get_layer(f"{layer}_bn").input is full_moon.get_layer(layer).output


@pytest.mark.parametrize("size", [(109, 89), (32, 26)])
def test_cut_shape_matches_model_at_small_sizes(size):
  m = moon.build_moon(size, 3)
  for layer in moon.CUT_LAYERS:
    assert tuple(m.get_layer(layer).output.shape[1:]) == moon.cut_shape(layer, size)


def test_unknown_layer_lists_valid_ones():
  with pytest.raises(ValueError, match="conv4_2, conv5_1"):
    moon.check_layer("conv9")
  with pytest.raises(ValueError, match="unknown layer"):
    moon.build_trunk("fc7", (32, 26))


def test_same_table_builds_in_tf_keras():
  tf_keras = pytest.importorskip("tf_keras")
  m = moon.build_moon((109, 89), 40, K=tf_keras)
  k3 = moon.build_moon((109, 89), 40)
  assert [l.name for l in m.layers] == [l.name for l in k3.layers]
  assert m.count_params() == k3.count_params()
  # Same weights give the same logits in both Keras versions.
  for a, b in zip(m.layers, k3.layers):
    if b.weights:
      a.set_weights(b.get_weights())
  x = np.random.default_rng(0).uniform(0, 255, (2, 109, 89, 3)).astype("float32")
  np.testing.assert_allclose(m(x, training=False).numpy(), np.asarray(k3(x, training=False)), atol=1e-4)
