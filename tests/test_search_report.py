"""A search's report (cnnlab/search/report.py): the trials best first, each dimension's
importance (Optuna's fANOVA), best-so-far against compute beside a grid's, slices, HTML."""


import pytest

from cnnlab.config import load
from cnnlab.search import driver
from cnnlab.search import report as search_report
from cnnlab.search import space as S
from test_cli import CONFIG

pytestmark = pytest.mark.timeout(600)


def test_the_report_of_a_search_and_its_grid(tmp_path, capsys):
  cfg = tmp_path / "cfg.py"
  cfg.write_text(CONFIG)
  base = load(str(cfg))
  space = dict([S.parse("optim.lr=log:1e-3:1e-1", base), S.parse("model.pool=choice:max,avg",
                                                                    base)])
  search = driver.Search(str(cfg), space, sampler="random", trials=4, seeds=1)
  out = driver.run(search, str(tmp_path / "search"), workers=2, log=lambda *_: None)
  grid = driver.Search(str(cfg), space, sampler="random", trials=2, seeds=1, seed=1)
  driver.run(grid, str(tmp_path / "grid"), workers=2, log=lambda *_: None)
  capsys.readouterr()
  assert search_report.main([f"--sweep_dir={tmp_path / 'search'}",
                             f"--grid_dir={tmp_path / 'grid'}", "--html"]) == 0
  folder = tmp_path / "search" / search_report.OUT
  for name in ("trials.md", "importance.md", "best_so_far.png", "slices.png", "report.html"):
    assert (folder / name).exists(), name
  lines = (folder / "trials.md").read_text().splitlines()
  values = [float(line.split("|")[-2]) for line in lines[2:]]
  assert values == sorted(values, reverse=True) and len(values) == 4
  assert max(values) == out["best"]["value"]
  assert "optim.lr" in (folder / "importance.md").read_text()
  study, loaded, records = search_report.load(str(tmp_path / "search"))
  curve = search_report.best_so_far(study, loaded, records)
  costs = [c for c, _ in curve]
  assert len(curve) == 4 and costs == sorted(costs) and costs[0] > 0  # compute accumulates
  assert curve[-1][1] == out["best"]["value"]
  assert search_report.main([f"--sweep_dir={tmp_path}"]) == 2
  assert "not a search's directory" in capsys.readouterr().err
