"""Conformance batteries for registered ops and models (``python -m cnnlab.check``)."""
