"""Search beyond grids (issue 29, in progress): typed search spaces over config paths
(:mod:`cnnlab.search.space`) and Optuna's samplers. The search driver comes next."""
