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


@pytest.mark.parametrize("name", ["fashionnet", "lenet5", "resnet20", "resnet18_cifar",
                                  "airbench94"])
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
