"""A sweep on a Ray cluster of several nodes (raylets on this machine) that loses one.

The Ray launcher submits the runs; while runs are mid-way on both worker nodes, one
node is removed (its raylet and workers killed, as when a host dies). Ray retries the
lost runs on the remaining node, each retry takes over the dead worker's claim and
resumes from its checkpoints, and the sweep ends with every point finished exactly once
and a complete report. Ray's temporary files stay inside a directory of this test, and
every process it started is ended.
"""

import os
import shutil
import tempfile
import threading
import time

import pytest

from cnnlab.report import tables
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import Index
from cnnlab.train.checkpoint import latest_step
from cnnlab.train.result import load_result

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One Ray cluster at a time on this machine (Ray keeps /tmp/ray/ray_current_cluster).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("ray")]

SWEEP = """
from cnnlab.sweep import product, seeds, sweep
from cnnlab.config import base_config
def get_config():
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.train.update(batch_size=16, num_epochs=60, log_every_steps=30,
                 checkpoint_every_steps=36)  # 10 saves a run (each ~0.1 s of orbax)
  return c
def get_sweep():
  return product(sweep("model.pool", ["max", "avg"]), seeds(2))
"""


@pytest.fixture
def cluster(monkeypatch):
  ray = pytest.importorskip("ray")
  from ray.cluster_utils import Cluster
  temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's sockets live here
  os.makedirs(os.path.join(temp, "ray"))
  monkeypatch.setenv("RAY_TMPDIR", temp)  # all of Ray's files, its address file too
  monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token file under the home directory
  monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
  c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
  workers = [c.add_node(num_cpus=1) for _ in range(2)]
  ray.init(address=c.address, log_to_driver=False, runtime_env={"env_vars": {
      "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO, "RAY_AUTH_MODE": "disabled"}})
  try:
    yield c, workers
  finally:
    ray.shutdown()
    c.shutdown()
    for _ in range(20):  # the last processes may still be writing their logs
      shutil.rmtree(temp, ignore_errors=True)
      if not os.path.exists(temp):
        break
      time.sleep(0.25)
    assert not os.path.exists(temp)


def _mid_way(out):
  """The runs that are running and have a checkpoint."""
  path = os.path.join(out, "index.sqlite")
  if not os.path.exists(path):
    return []
  index = Index(path)
  rows = index.rows(status="running")
  index.close()
  return [r for r in rows if latest_step(os.path.join(out, "runs", r["run_id"], "checkpoints"))]


def _parent(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return int(f.read().rsplit(")", 1)[1].split()[1])
  except (OSError, ValueError, IndexError):
    return None


def _node_of(pid, nodes):
  """The cluster node whose raylet started the worker process ``pid`` (None: unknown):
  Ray's workers are children of their node's raylet."""
  raylets = {}
  for n in nodes:
    for info in n.all_processes.get("raylet", []):
      raylets[info.process.pid] = n
  for _ in range(4):
    pid = _parent(pid)
    if pid in raylets:
      return raylets[pid]
  return None


def test_a_sweep_survives_losing_a_node(tmp_path, cluster):
  from cnnlab.sweep import ray_launcher
  c, workers = cluster
  config = tmp_path / "sweep.py"
  config.write_text(SWEEP)
  out = str(tmp_path / "sweep")
  outcome = {}
  t = threading.Thread(target=lambda: outcome.update(ray_launcher.launch(
      SweepSpec.from_args(str(config)), out, num_cpus=1, max_retries=3, stale_after_s=60,
      log=lambda *_: None)))
  t.start()
  deadline, lost = time.time() + 300, []
  while not lost and time.time() < deadline and t.is_alive():
    time.sleep(0.2)
    for run in _mid_way(out):  # a run mid-way: lose the node its worker runs on
      node = _node_of(run["pid"], workers)
      if node is not None:
        c.remove_node(node, allow_graceful=False)
        lost = [r["run_id"] for r in _mid_way(out) if r["run_id"] == run["run_id"]] or \
            [run["run_id"]]
        break
  t.join(timeout=500)
  assert lost, "the node was not lost mid-sweep"
  assert outcome == {"done": 4}
  index = Index(os.path.join(out, "index.sqlite"))
  rows = index.rows()
  index.close()
  assert sorted(r["status"] for r in rows) == ["done"] * 4 and len(rows) == 4
  resumed = [rid for rid in lost if load_result(os.path.join(out, "runs", rid)).resumed_from]
  assert resumed == lost, "the lost node's run was retried from scratch, not from its checkpoints"
  t = tables.build(tables.collect(out), "model.pool", "seed", "test_accuracy")
  assert all(len(cell.values) == 1 for cell in t.cells.values()) and len(t.cells) == 4
