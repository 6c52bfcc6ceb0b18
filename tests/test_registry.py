"""Registries: lookup, errors that list valid names, the listing command."""

import subprocess
import sys

import pytest

import jax.numpy as jnp
import numpy as np

from cnnlab import registries, registry
from cnnlab.ops import ACTIVATIONS, NORMS, POOLS, get_activation, get_norm, get_pool
from cnnlab.registry import Option, OptionError, format_call, parse_call

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
  assert "roi_max" in registries.all_registries()["roi_pool"]


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
  with pytest.raises(ValueError, match="identifiers"):
    reg.add("", 1)
  with pytest.raises(ValueError, match="identifiers"):
    reg.add("lp(p=2)", 1)  # the name syntax's characters cannot be in a name


def test_listing_one_liner_prints_every_registered_name():
  out = subprocess.run([sys.executable, "-m", "cnnlab.registries"], capture_output=True,
                       text=True, check=True).stdout
  data = {"fashion_mnist", "mnist", "cifar10", "cifar100", "svhn_cropped", "mnist1d", "digits",
          "synthetic"}
  for name in POOLS_IN_THE_ISSUE | ACTS_IN_THE_ISSUE | NORMS_IN_THE_ISSUE | {"roi_max"} | data:
    assert f"  {name} " in out or out.rstrip().endswith(f"  {name}"), name
  assert out.splitlines()[0].startswith("pool (pooling,")
  assert "options: p: float = 3.0 (1 <= p)" in out  # lp_sum's declared option


def test_listing_selected_and_unknown_registry():
  assert registries.format_listing(["act"]).startswith("act (activation,")
  assert registries.main(["x", "nonsense"]) == 2


def test_the_registry_module_is_a_leaf():
  import ast
  import inspect
  tree = ast.parse(inspect.getsource(registry))
  imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
      a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
  assert not [m for m in imported if m and m.startswith("cnnlab")]


# -- typed options and the name(key=value) syntax ---------------------------------------


def test_an_unknown_option_fails_naming_the_accepted_ones_and_the_closest():
  x = jnp.ones((1, 4, 4, 1))
  with pytest.raises(OptionError, match="pooling 'lp_sum' has no option 'pp'. Did you mean "
                                        "'p'\\? Its options: p"):
    get_pool("lp_sum")(x, 2, pp=4.0)
  with pytest.raises(OptionError, match="has no option 'sigm'. Did you mean 'sigma'"):
    get_pool("distance_weighted(sigm=2)")
  with pytest.raises(OptionError, match="activation 'relu' has no option 'slope'. "
                                        "Its options: none"):
    get_activation("relu(slope=0.1)")


@pytest.mark.parametrize("spec,message", [
    ("lp_sum(p=0.5)", "option 'p' is 0.5, outside its range 1 <= p"),
    ("lp_mean(p='2')", "option 'p' must be a finite float, got '2'"),
    ("distance_weighted(sigma=0)", "option 'sigma' is 0.0, outside its range 0 < sigma"),
    ("mixed(per_channel=1)", "option 'per_channel' must be True or False"),
    ("gem(p=float('inf'))", "the value of 'p' must be a number"),
])
def test_an_out_of_range_option_fails_before_anything_runs(spec, message):
  with pytest.raises(OptionError, match=message.replace("(", "\\(").replace(")", "\\)")):
    get_pool(spec)


def test_norm_and_activation_options_are_checked_too():
  with pytest.raises(OptionError, match="option 'num_groups' must be a finite int"):
    get_norm("group(num_groups=2.5)")
  with pytest.raises(OptionError, match="option 'momentum' is 1.0, outside its range"):
    get_norm("batch(momentum=1.0)")
  assert get_activation("elu(alpha=2.0)").output_range == (-2.0, np.inf)
  np.testing.assert_allclose(get_activation("leaky_relu(negative_slope=0.2)")(jnp.array([-1.0])),
                             [-0.2])


def test_options_in_the_name_equal_options_at_the_call():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 3)), jnp.float32)
  np.testing.assert_array_equal(get_pool("lp_sum(p=4)")(x, 2), get_pool("lp_sum")(x, 2, p=4.0))
  assert not np.allclose(get_pool("lp_sum(p=4)")(x, 2), get_pool("lp_sum")(x, 2))
  with pytest.raises(ValueError, match="given twice"):
    get_pool("lp_sum(p=4)")(x, 2, p=5.0)


@pytest.mark.parametrize("text,parsed", [
    ("max", ("max", {})), ("lp_sum(p=4)", ("lp_sum", {"p": 4})),
    (" mixed(per_channel=True) ", ("mixed", {"per_channel": True})),
    ("lrn(size=3, alpha=1e-3)", ("lrn", {"size": 3, "alpha": 1e-3})),
])
def test_the_name_syntax_parses_and_formats_back(text, parsed):
  assert parse_call(text) == parsed
  assert parse_call(format_call(*parsed)) == parsed


@pytest.mark.parametrize("text", ["lp_sum(p=4", "lp_sum(4)", "lp_sum(p=x)", "a.b(p=1)",
                                  "lp_sum(**d)"])
def test_malformed_names_fail_with_the_expected_form(text):
  with pytest.raises(OptionError, match="name\\(key=value|must be a number"):
    parse_call(text)


def test_registering_an_op_whose_function_lacks_a_declared_option_fails():
  from cnnlab.ops.pooling import register_pool
  with pytest.raises(TypeError, match="does not take the declared option"):
    register_pool("toy_bad", lambda x, window, strides=None, padding="VALID": x,
                  options=[Option("q", float, 1.0)])
  assert "toy_bad" not in POOLS


def test_ops_tour_runs():
  from cnnlab import demo
  text = demo.tour()
  assert "RF" in text and "stochastic" in text and "Rejected before compilation" in text
