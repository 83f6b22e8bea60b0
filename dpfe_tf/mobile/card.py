"""The JSON model card that travels with every exported .tflite file."""

from __future__ import annotations

import datetime
import os

from dpfe_tf import io_utils
from dpfe_tf.mobile import runtime


def card_path(tflite_path: str) -> str:
  return os.path.splitext(tflite_path)[0] + ".json"


def make_card(tflite_path, kind, form, layer, image_size, *, attributes=None, feature_dim=None,
              parity=None, source=None, extractor_id=None) -> dict:
  model = runtime.TFLiteModel(tflite_path)
  q = model.quantization()
  scaling = ("float32 RGB in 0..255 (the graph divides by 255)" if q["input"]["dtype"] == "float32" else
             f"{q['input']['dtype']} = round(pixel / {q['input']['scale']:.6g} + {q['input']['zero_point']}), "
             "pixel = RGB value in 0..255")
  return {
      "kind": kind,                  # extractor | trunk | full
      "form": form,
      "layer": layer,
      "attributes": list(attributes) if attributes else None,
      "feature_dim": feature_dim,
      "extractor_id": extractor_id,  # the predictor that belongs to this extractor is named predictor_<id>
      "input": {"shape": list(model.input_shape), "dtype": q["input"]["dtype"],
                "image_size": list(image_size), "scaling": scaling},
      "output": {"shape": [1, model.output_dim] if kind != "trunk" else None, "dtype": q["output"]["dtype"]},
      "quantization": q,
      "file": os.path.basename(tflite_path),
      "bytes": os.path.getsize(tflite_path),
      "sha256": runtime.sha256(tflite_path),
      "parity": parity,
      "source": source,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }


def check_hash(tflite_path, card: dict | None = None) -> dict:
  """Compares the file's SHA-256 with its card's; returns {ok, expected, actual, card}."""
  path = card_path(tflite_path)
  if card is None:
    if not os.path.isfile(path):
      return {"ok": False, "expected": None, "actual": runtime.sha256(tflite_path),
              "card": None, "reason": f"no model card at {path}"}
    card = read_card(path)
  actual = runtime.sha256(tflite_path)
  ok = card.get("sha256") == actual
  return {"ok": ok, "expected": card.get("sha256"), "actual": actual, "card": path,
          "reason": None if ok else "the file does not match its model card's SHA-256"}


def read_card(path) -> dict:
  """A model card; anything but a JSON object with the card's fields is a one-line error."""
  c = io_utils.read_json(path)
  missing = [k for k in ("kind", "form", "sha256", "input") if k not in c]
  if missing:
    raise io_utils.FileFormatError(f"{path}: not a dpfe_tf model card (no {', '.join(missing)})")
  return c
