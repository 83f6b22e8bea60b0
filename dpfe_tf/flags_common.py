"""absl flags shared by the commands, and their parsing into plain values."""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags

from dpfe_tf.models import moon


def parse_image_size(text: str | None):
  """"HxW" (e.g. 109x89), "full" (218x178) or "auto"/empty (None: the data's default)."""
  if text in (None, "", "auto"):
    return None
  if text == "full":
    return moon.FULL_IMAGE_SIZE
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise flags.ValidationError(f"--image_size must be HxW (e.g. 109x89), 'full' or 'auto', got {text!r}") from None
  if h < 16 or w < 16:
    raise flags.ValidationError(f"--image_size {text}: MOON needs at least 16x16")
  return (h, w)


def quiet_tensorflow():
  """Keeps TF's C++ start-up chatter out of the command's output."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def setup_logging():
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
  # TF's own Python warnings (e.g. "triggered tf.function retracing" after predicting with
  # several models) are noise for a user of the commands.
  logging.getLogger("tensorflow").setLevel(logging.ERROR)


#: Errors that mean bad input or a failed step the user can act on: one line, exit code 2.
#: (DataError and TFLiteError are ValueErrors.)
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError)


def cli_main(work):
  """An absl ``main`` around ``work()`` (which returns the exit code): no positional
  arguments, logging set up, and user errors printed as ``error: ...`` with exit code 2."""
  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    setup_logging()
    try:
      return work()
    except USER_ERRORS as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
  return main
