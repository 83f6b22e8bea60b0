"""Running a TFLite model with the LiteRT interpreter, with the checks a released file needs."""

from __future__ import annotations

import hashlib
import os

import numpy as np


class TFLiteError(ValueError):
  pass


def sha256(path_or_bytes) -> str:
  h = hashlib.sha256()
  if isinstance(path_or_bytes, (bytes, bytearray)):
    h.update(path_or_bytes)
  else:
    with open(path_or_bytes, "rb") as f:
      for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
  return h.hexdigest()


class TFLiteModel:
  """One-input, one-output TFLite model; float in, float out, quantising where the model is int8.

  ``run(x)`` takes float32 batches (N, ...); each row is fed with batch 1. For an int8 model
  float inputs are quantised with the input's scale and zero point (``quantize=False`` makes
  float input to an int8 model an error instead), and outputs are dequantised.
  """

  def __init__(self, path_or_bytes, num_threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    from dpfe_tf.io_utils import quiet_fds
    self.path = None if isinstance(path_or_bytes, (bytes, bytearray)) else path_or_bytes
    try:
      if self.path is not None and not os.path.isfile(self.path):
        raise TFLiteError(f"no such TFLite file: {self.path}")
      with quiet_fds():  # LiteRT announces its XNNPACK delegate on stderr
        if self.path is not None:
          self.interpreter = Interpreter(model_path=self.path, num_threads=num_threads)
        else:
          self.interpreter = Interpreter(model_content=bytes(path_or_bytes), num_threads=num_threads)
        self.interpreter.allocate_tensors()
    except TFLiteError:
      raise
    except (ValueError, RuntimeError) as e:
      raise TFLiteError(f"{self.path or 'model bytes'}: not a valid TFLite model ({str(e).splitlines()[0]})") from None
    ins, outs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
      raise TFLiteError(f"expected one input and one output, got {len(ins)} and {len(outs)}")
    self.input, self.output = ins[0], outs[0]

  @property
  def input_shape(self):
    return tuple(int(v) for v in self.input["shape"])

  @property
  def input_dtype(self):
    return np.dtype(self.input["dtype"])

  @property
  def output_dim(self):
    return int(self.output["shape"][-1])

  def quantization(self):
    (si, zi), (so, zo) = self.input["quantization"], self.output["quantization"]
    return {"input": {"dtype": self.input_dtype.name, "scale": float(si), "zero_point": int(zi)},
            "output": {"dtype": np.dtype(self.output["dtype"]).name, "scale": float(so), "zero_point": int(zo)}}

  def _prepare(self, row, quantize):
    dt = self.input_dtype
    if dt == np.float32:
      return row.astype(np.float32)[None]
    if np.issubdtype(row.dtype, np.floating):
      if not quantize:
        scale, zero = self.input["quantization"]
        raise TFLiteError(f"this model takes {dt.name} input (scale {scale:g}, zero point {zero}); "
                          "got float data")
      scale, zero = self.input["quantization"]
      info = np.iinfo(dt)
      return np.clip(np.round(row / scale + zero), info.min, info.max).astype(dt)[None]
    if row.dtype != dt:
      raise TFLiteError(f"this model takes {dt.name} input, got {row.dtype.name}")
    return row[None]

  def run(self, x, quantize: bool = True) -> np.ndarray:
    x = np.asarray(x)
    if tuple(x.shape[1:]) != self.input_shape[1:]:
      raise TFLiteError(f"input shape {tuple(x.shape[1:])} does not match the model's "
                        f"{self.input_shape[1:]} (batch dimension excluded)")
    out = []
    scale, zero = self.output["quantization"]
    for row in x:
      self.interpreter.set_tensor(self.input["index"], self._prepare(row, quantize))
      self.interpreter.invoke()
      y = self.interpreter.get_tensor(self.output["index"])[0]
      out.append((y.astype(np.float32) - zero) * scale if scale else y.astype(np.float32))
    return np.stack(out)
