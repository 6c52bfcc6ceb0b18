"""The README, the docs/ pages and the experiments' READMEs point at files that exist,
and docs/results.md lists exactly the fields a real run writes."""

import dataclasses
import glob
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(REPO, "README.md")] + sorted(
    glob.glob(os.path.join(REPO, "docs", "*.md"))) + sorted(
    glob.glob(os.path.join(REPO, "experiments", "*", "README.md")))


def test_the_readme_is_short_and_reaches_every_page():
  """A newcomer's README (under 200 lines) that links every docs/ page."""
  with open(os.path.join(REPO, "README.md")) as f:
    text = f.read()
  assert text.count("\n") < 200, f"README.md has {text.count(chr(10))} lines"
  linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", text))
  pages = {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))}
  assert pages <= linked, sorted(pages - linked)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: os.path.relpath(p, REPO))
def test_every_image_and_relative_link_exists(doc):
  with open(doc) as f:
    text = f.read()
  here = os.path.dirname(doc)
  for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text):
    if re.match(r"[a-z]+://", target) or target.startswith("#"):
      continue
    path = target.split("#")[0]
    assert os.path.exists(os.path.join(here, path)), f"{doc}: {target} does not exist"


RUN_CONFIG = """
from cnnlab.config import base_config
def get_config():
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.data.validation_size = 16
  c.train.update(batch_size=16, num_steps=8, eval_every_steps=4, log_every_steps=2,
                 checkpoint_every_steps=4)
  return c
"""


def _section(text: str, heading: str) -> str:
  start = text.index(heading)
  end = text.find("\n## ", start + len(heading))
  return text[start:end if end > 0 else len(text)]


def _table_rows(section: str):
  """Each table row's cells, past the header and the rule."""
  rows = [line for line in section.splitlines() if line.startswith("| ")]
  return [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]
          if not set(r) <= set("|- ")]


def test_the_results_page_lists_the_fields_a_real_run_writes(tmp_path):
  """A run through the CLI (validation split, so every section appears): each field of
  its result.json is on docs/results.md and each field there is one the reader knows;
  each split's metrics.jsonl rows have exactly the fields the page gives that split."""
  from cnnlab.train.result import Result
  (tmp_path / "cfg.py").write_text(RUN_CONFIG)
  proc = subprocess.run([sys.executable, "-m", "cnnlab.main", "--config=cfg.py",
                         "--workdir=run"], cwd=tmp_path, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": REPO,
                             "CNNLAB_DATA_DIR": str(tmp_path / "data")}, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(os.path.join(REPO, "docs", "results.md")) as f:
    page = f.read()
  documented = {name for row in _table_rows(_section(page, "## `result.json`"))
                for name in re.findall(r"`(\w+)`", row[0])}
  with open(tmp_path / "run" / "result.json") as f:
    result = json.load(f)
  assert set(result) <= documented, sorted(set(result) - documented)
  assert documented <= {f.name for f in dataclasses.fields(Result)}, \
      sorted(documented - {f.name for f in dataclasses.fields(Result)})
  assert set(result["best"]) == {"test", "validation", "test_at_best_validation"}
  assert all("count" in result["final"][s] for s in ("test", "validation"))
  splits = {row[0].strip("`"): set(re.findall(r"`([\w<>]+)`", row[1]))
            for row in _table_rows(_section(page, "## `metrics.jsonl`"))}
  seen = {}
  with open(tmp_path / "run" / "metrics.jsonl") as f:
    for line in f:
      row = json.loads(line)
      seen.setdefault(row["split"], set()).update(row)
  assert set(seen) == set(splits), (sorted(seen), sorted(splits))
  for split, fields in seen.items():
    assert fields == {"accuracy" if f == "<metric>" else f for f in splits[split]}, split


def _runnable_blocks():
  """``(page, command)`` for each line of every bash block marked ``<!-- runnable -->``
  (quick commands that write nothing), backslash continuations joined, comments cut."""
  out = []
  for doc in DOCS:
    with open(doc) as f:
      text = f.read()
    for block in re.findall(r"<!-- runnable -->\n```bash\n(.*?)```", text, re.S):
      for line in block.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        if line:
          out.append((os.path.relpath(doc, REPO), line))
  return out


RUNNABLE = _runnable_blocks()


def test_there_are_runnable_blocks():
  assert {doc for doc, _ in RUNNABLE} >= {"docs/registries.md", "docs/models.md"}


@pytest.mark.parametrize("doc,command", RUNNABLE, ids=[c for _, c in RUNNABLE])
def test_every_command_block_marked_runnable_runs(doc, command):
  argv = command.split()
  assert argv[0] == "python", f"{doc}: {command}"
  proc = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": REPO}, timeout=300)
  assert proc.returncode == 0 and proc.stdout.strip(), f"{doc}: {command}\n{proc.stderr[-2000:]}"
