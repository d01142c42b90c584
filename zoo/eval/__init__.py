"""Evaluation shared by every family: metrics (`metrics.py`), the one evaluation loop
(`loop.py`), and the decoders and samplers (`decoding.py`)."""
