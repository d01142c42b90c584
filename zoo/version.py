"""The zoo's version (also in pyproject.toml); written into every export's manifest."""
__version__ = "0.1.0"
