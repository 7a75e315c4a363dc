"""Inference layer: the PyMC model, sampling, diagnostics, calibration, sensitivity and comparison.

Importing this package, or any module in it, changes no global setting: the PyTensor flags rdshare needs
are set only while it compiles (:mod:`rdshare.inference.pytensor_flags`). :mod:`rdshare.inference.defaults`
holds the sampler defaults and imports no PyMC.
"""
