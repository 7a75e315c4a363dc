"""Core layer: numpy/pandas only; never imports PyMC."""
