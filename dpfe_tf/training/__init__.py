"""Procedure 1: the training stages (``stages``), their checkpoints (``callbacks``), the defence
weight search (``search``) and training on several devices (``distribute``)."""
