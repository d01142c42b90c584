"""Layers shared by several families (keras-hub's `layers/modeling` in spirit): a family imports
them from here, never from another family's folder."""
