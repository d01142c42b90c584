"""Evaluation helpers: decoding (beam search, greedy) and metrics shared by the model families."""
