"""The on-device half: TFLite extractors, their model cards, parity, and benchmarks."""
