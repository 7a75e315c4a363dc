"""Inference layer: the PyMC model, sampling, diagnostics and predictive checks.

Importing this package configures PyTensor for reproducible numba builds (see
:mod:`rdshare.inference._config`) before PyMC is imported anywhere below it.
"""
