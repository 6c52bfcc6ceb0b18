"""``python -m cnnlab.check`` on a user's file: a failed property is one line that names
the op, the property, the input's shape and dtype and the largest difference.

Run as a process: the ops it registers must not join this process's registries (the
conformance tests and the model zoo iterate over them).
"""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_OPS = """
import jax.numpy as jnp
from cnnlab.ops import register_activation, register_pool
from cnnlab.ops.pooling import avg_pool

# computes in the input's dtype, but doubles its output in bfloat16: a real bug
def doubling_in_bf16(x, window, strides=None, padding="VALID"):
  y = avg_pool(x, window, strides, padding)
  return y * 2 if x.dtype == jnp.bfloat16 else y

register_pool("bf16_doubler", doubling_in_bf16)

# computed in float32 (in bfloat16, x + sqrt(x² + 4) cancels for large negative x and the
# bfloat16 check fails: the README's advice), returned in the input's dtype
def squareplus(x):
  x32 = x.astype(jnp.float32)
  return (0.5 * (x32 + jnp.sqrt(x32 * x32 + 4.0))).astype(x.dtype)

register_activation("squareplus", squareplus, output_range=(0, float("inf")))
"""


@pytest.mark.timeout(300)
def test_a_failed_check_names_op_property_input_and_largest_difference(tmp_path):
  path = tmp_path / "my_ops.py"
  path.write_text(USER_OPS)
  proc = subprocess.run([sys.executable, "-m", "cnnlab.check", str(path)], cwd=tmp_path,
                        capture_output=True, text=True, timeout=280,
                        env={**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 1, proc.stdout + proc.stderr
  rows = [line for line in proc.stdout.splitlines() if "FAIL" in line]
  assert len(rows) == 1, proc.stdout
  row = rows[0]
  for part in ("bf16_doubler", "bfloat16", "bf16_doubler bfloat16 vs float32",
               "on input (2, 9, 8) bfloat16", "largest excess: difference", "values differ"):
    assert part in row, row
  # the user's other op passes everything, "entry is its function" included
  assert all("pass" in line for line in proc.stdout.splitlines() if "squareplus" in line)
  assert "entry is its function" in proc.stdout
