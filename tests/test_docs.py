"""The README and the experiments' READMEs point at files that exist."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(REPO, "README.md")] + sorted(
    glob.glob(os.path.join(REPO, "experiments", "*", "README.md")))


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
