"""Registries: lookup, errors that list valid names, the listing command."""

import subprocess
import sys

import pytest

from cnnlab import registry
from cnnlab.ops import ACTIVATIONS, NORMS, POOLS

POOLS_IN_THE_ISSUE = {"max", "avg", "min", "lp_sum", "lp_mean", "l2_sum", "l2_rms",
                      "stochastic", "mixed", "gated", "distance_weighted", "global_avg",
                      "global_max", "gem", "none"}
ACTS_IN_THE_ISSUE = {"relu", "tanh", "abs_tanh", "sigmoid", "lecun_tanh", "leaky_relu", "elu",
                     "gelu", "silu", "swish", "softplus", "mish", "identity"}
NORMS_IN_THE_ISSUE = {"batch", "lrn", "group", "layer", "none"}


def test_everything_named_in_the_foundation_issue_is_registered():
  assert POOLS_IN_THE_ISSUE <= set(POOLS.names())
  assert ACTS_IN_THE_ISSUE <= set(ACTIVATIONS.names())
  assert NORMS_IN_THE_ISSUE <= set(NORMS.names())
  assert "roi_max" in registry.all_registries()["roi_pool"]


def test_unknown_name_lists_valid_names_and_suggests():
  with pytest.raises(registry.UnknownNameError) as e:
    POOLS.get("maxx")
  msg = str(e.value)
  assert "unknown pooling 'maxx'" in msg and "Did you mean 'max'" in msg
  for name in POOLS.names():
    assert name in msg
  with pytest.raises(KeyError, match="Valid names: relu"):
    ACTIVATIONS.get("rectifier")


def test_duplicate_registration_refused_unless_overwrite():
  reg = registry.Registry("thing")
  reg.add("a", 1)
  with pytest.raises(ValueError, match="already registered"):
    reg.add("a", 2)
  reg.add("a", 3, overwrite=True)
  assert reg.get("a") == 3 and "a" in reg and len(reg) == 1
  with pytest.raises(ValueError, match="non-empty"):
    reg.add("", 1)


def test_listing_one_liner_prints_every_registered_name():
  out = subprocess.run([sys.executable, "-m", "cnnlab.registry"], capture_output=True,
                       text=True, check=True).stdout
  data = {"fashion_mnist", "mnist", "cifar10", "cifar100", "svhn_cropped", "mnist1d", "digits",
          "synthetic"}
  for name in POOLS_IN_THE_ISSUE | ACTS_IN_THE_ISSUE | NORMS_IN_THE_ISSUE | {"roi_max"} | data:
    assert f"  {name} " in out or out.rstrip().endswith(f"  {name}"), name
  assert out.splitlines()[0].startswith("pool (pooling,")


def test_listing_selected_and_unknown_registry():
  assert registry.format_listing(["act"]).startswith("act (activation,")
  assert registry.main(["x", "nonsense"]) == 2


def test_ops_tour_runs():
  from cnnlab import demo
  text = demo.tour()
  assert "RF" in text and "stochastic" in text and "Rejected before compilation" in text
