"""Search spaces (cnnlab/search/space.py): dimensions checked against the config's fields,
choices typed as overrides are, and Optuna's samplers drawing the same points for the
same seed (a resumed search relies on it)."""

import pytest

from cnnlab.config import ConfigError, base_config
from cnnlab.search import space as S


@pytest.fixture(scope="module")
def base():
  return base_config("conv1d_pool")


def test_the_flag_forms_are_checked_against_the_fields(base):
  assert S.parse("optim.lr=log:1e-4:1e-1", base) == ("optim.lr", S.log_uniform(1e-4, 1e-1))
  assert S.parse("train.batch_size=int:16:128", base)[1] == S.integer(16, 128)
  path, dim = S.parse("model.pool=choice:max,lp_sum(p=4)", base)
  assert dim.values == ("max", "lp_sum(p=4)")
  assert S.parse("train.shuffle=choice:true,false", base)[1].values == (True, False)
  for text, says in (("optim.lr=logg:1e-4:1", "unknown kind 'logg'. Did you mean 'log'"),
                     ("optim.lr=log:0:1", "low > 0"), ("optim.lr=uniform:1:0", "low < high"),
                     ("model.pool=uniform:0:1", "not a number: search it with choice"),
                     ("optim.lrr=log:1e-4:1", "config.optim has no field 'lrr'"),
                     ("model.pool=choice:max", "two or more distinct values"),
                     ("optim.lr=log:a:b", "a range is log:<low>:<high>"),
                     ("optim.lr", "give <path>=<values>")):
    with pytest.raises(ConfigError, match=says):
      S.parse(text, base)
  with pytest.raises(ConfigError, match="not a dimension"):
    S.check({"optim.lr": (1e-4, 1e-1)}, base)
  assert S.check({"optim.lr": S.log_uniform(1e-4, 1e-1)}, base)


@pytest.mark.parametrize("name", S.SAMPLERS)
def test_each_sampler_draws_typed_points_in_range_the_same_for_the_same_seed(base, name):
  space = {"optim.lr": S.log_uniform(1e-4, 1e-1), "train.batch_size": S.integer(16, 128),
           "model.pool": S.choice("max", "avg")}
  points = S.draw(space, name, seed=3, n=6, values=[0.1, 0.5, 0.2, 0.9, 0.3, 0.4])
  assert points == S.draw(space, name, seed=3, n=6, values=[0.1, 0.5, 0.2, 0.9, 0.3, 0.4])
  assert points != S.draw(space, name, seed=4, n=6)
  for p in points:
    assert list(p) == list(space) and 1e-4 <= p["optim.lr"] <= 1e-1
    assert type(p["train.batch_size"]) is int and 16 <= p["train.batch_size"] <= 128
    assert p["model.pool"] in ("max", "avg")
  with pytest.raises(ConfigError, match="unknown sampler"):
    S.sampler("tpee", 0)


def test_quasi_random_points_spread_more_evenly_than_random_ones():
  """Sobol's 32 points on [0, 1] leave no gap wider than random draws do (the reason the
  tuning playbook explores with them)."""
  space = {"optim.lr": S.uniform(0.0, 1.0)}

  def widest_gap(name):
    xs = sorted([0.0, 1.0] + [p["optim.lr"] for p in S.draw(space, name, seed=0, n=32)])
    return max(b - a for a, b in zip(xs, xs[1:]))
  assert widest_gap("sobol") < widest_gap("random")


def test_the_reference_grid():
  assert S.log_uniform(1e-4, 1e-1).grid(4) == [1e-4, 1e-3, 1e-2, 1e-1]
  assert S.uniform(0, 1).grid(3) == [0.0, 0.5, 1.0]
  assert S.integer(16, 128).grid(3) == [16, 72, 128]
  assert S.choice("max", "avg").grid(7) == ["max", "avg"]
