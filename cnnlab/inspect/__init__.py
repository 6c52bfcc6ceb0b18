"""Looking inside trained nets: load a run (:func:`load_run`), evaluate and export it, and
the inspect page (feature maps, filters, projections, attributions, receptive fields,
layer similarity). Heavy modules are imported where used."""

from cnnlab.inspect.load import LoadedRun, load_run  # noqa: F401
