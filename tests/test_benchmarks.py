"""The benchmark scripts run (cnnlab's side here; PyTorch's where torch is installed)."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))


def test_vs_pytorch_times_cnnlab_and_writes_a_table(tmp_path, capsys):
  import vs_pytorch
  out = tmp_path / "results.md"
  vs_pytorch.main(["--nets=fashionnet", "--torch_modes=", "--rounds=1", "--steps=2",
                   "--batch=8", f"--out={out}"])
  text = out.read_text()
  assert "| fashionnet | 8 | float32 | cnnlab |" in text and "matmul peak" in text


def test_block_loop_times_both_forms_of_the_scanned_resnet_blocks(tmp_path):
  import block_loop
  out = tmp_path / "results.md"
  block_loop.main(["--depths=14", "--batch=4", "--steps=1", f"--out={out}"])
  text = out.read_text()
  assert "| ResNet-14 | scan |" in text and "| ResNet-14 | unroll |" in text


def test_conv_forms_checks_and_times_every_form(capsys):
  import conv_forms
  conv_forms.main(["--shapes=mnist1d", "--rounds=1", "--calls=1"])
  out = capsys.readouterr().out
  assert "| conv1d_pool conv1 | (100, 40, 1) |" in out and out.count("| im2col |") >= 1


def test_step_limit_prints_flops_the_gemm_limit_and_the_ratios(capsys):
  import step_limit
  step_limit.main(["--steps=20", "--rounds=1"])
  out = capsys.readouterr().out
  assert "MFLOP" in out and "GEMM limit" in out and "× the limit" in out


@pytest.mark.parametrize("name", ["fashionnet", "lenet5", "resnet20", "resnet18_cifar",
                                  "airbench94", "conv1d_pool"])
def test_pytorch_twins_have_the_cnnlab_parameter_counts(name):
  pytest.importorskip("torch")
  import torch_nets
  from cnnlab.models import MODELS, create_model
  from cnnlab.ops.shapes import param_count
  from cnnlab.train.steps import init_state
  import jax
  import optax
  shape = MODELS.get(name).input_shape
  state = init_state(create_model(name, shape, num_classes=10), optax.sgd(0.1),
                     jax.random.PRNGKey(0), shape)
  assert torch_nets.param_count(torch_nets.build(name)) == param_count(state.params)


@pytest.mark.parametrize("pool", ["max", "avg", "min", "l2_sum", "stochastic", "mixed", "gated",
                                  "distance_weighted"])
def test_pytorch_pooling_twins_compute_the_cnnlab_ops(pool):
  """The sweep benchmark's PyTorch ConvPooling pools as cnnlab does (test mode; for
  stochastic pooling also the train-mode support: each output is one of its window's)."""
  torch = pytest.importorskip("torch")
  import numpy as np
  import torch_nets
  from cnnlab.ops.pooling import get_pool
  x = np.random.default_rng(0).uniform(0, 2, (3, 8, 4)).astype(np.float32)  # (N, L, C)
  x[0, :2] = 0  # an all-zero window
  twin = torch_nets._WindowPool1d(pool).eval()
  spec = get_pool(pool)
  params = {}
  if pool == "mixed":
    params = {"alpha_logit": np.float32(0.3)}
    twin.alpha_logit.data = torch.tensor(0.3)
  if pool == "gated":
    params = {"omega": np.array([0.7, -0.4], np.float32)}
    twin.omega.data = torch.tensor(params["omega"])
  want = np.asarray(spec(x, (2,), (2,), params=params))
  got = twin(torch.tensor(x).transpose(1, 2)).transpose(1, 2).detach().numpy()
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  if pool == "stochastic":
    sampled = twin.train()(torch.tensor(x).transpose(1, 2)).transpose(1, 2).numpy()
    windows = x.reshape(3, 4, 2, 4)
    assert np.all((sampled == windows[:, :, 0]) | (sampled == windows[:, :, 1]))


def test_sweep_throughput_times_the_runner_and_breaks_down_each_run(tmp_path):
  """A two-run subset of the pooling benchmark through the real sweep CLI (and the PyTorch
  twin where torch is installed): wall time, per-run parts, accuracies side by side."""
  import importlib.util
  import sweep_throughput
  frameworks = "cnnlab,pytorch" if importlib.util.find_spec("torch") else "cnnlab"
  out = tmp_path / "results.md"
  sweep_throughput.main(["--sizes=1000", "--pools=max,stride_2", "--steps=6",
                         "--eval_every=3", f"--frameworks={frameworks}", f"--out={out}"])
  text = out.read_text()
  assert "| cnnlab | 2 | 2 |" in text and "train s/run" in text and "idle s/run" in text
  if "pytorch" in frameworks:
    assert "| pytorch | 2 | 2 |" in text and "cnnlab / PyTorch wall time" in text
    assert "| stride_2 | 1 |" in text and "| max | 1 |" in text
