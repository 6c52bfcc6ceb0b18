"""Search beyond grids (issue 29): typed search spaces over config paths
(:mod:`~cnnlab.search.space`, Optuna's samplers) and the driver that asks, trains each
trial's seeds as ordinary runs of a sweep directory and tells (:mod:`~cnnlab.search.driver`;
``python -m cnnlab.search``), successive halving and Hyperband at rungs
(:mod:`~cnnlab.search.rungs`), and a search's report (:mod:`~cnnlab.search.report`)."""
