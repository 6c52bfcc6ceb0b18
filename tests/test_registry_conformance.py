"""Conformance tests generated from the registries: one property per test.

Every registered pooling op, activation and norm — built in, or registered by a
researcher in one line — is checked at its default options and at a non-default
value of each declared option, in 1-D, 2-D and 3-D where it applies. The properties
are :mod:`cnnlab.check.ops` (what ``python -m cnnlab.check`` runs on a user's own
ops); the parametrization comes from the registries when this module is collected.
"""

import pytest

from cnnlab.check import ops as C
from cnnlab.ops import ACTIVATIONS, NORMS, POOLS, ROI_POOLS

POOL_CASES = C.cases(POOLS)
ACT_CASES = C.cases(ACTIVATIONS)
NORM_CASES = C.cases(NORMS)
ROI_CASES = C.cases(ROI_POOLS)


@pytest.mark.parametrize("prop", list(C.POOL_CHECKS))
@pytest.mark.parametrize("padding", C.PADDINGS)
@pytest.mark.parametrize("ndim", C.NDIMS)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool(case, ndim, padding, prop):
  C.POOL_CHECKS[prop](case, ndim, padding)


@pytest.mark.parametrize("prop", list(C.POOL_SINGLE_CHECKS))
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_once(case, prop):
  C.POOL_SINGLE_CHECKS[prop](case)


@pytest.mark.parametrize("prop", list(C.ACT_CHECKS))
@pytest.mark.parametrize("case", ACT_CASES)
def test_activation(case, prop):
  C.ACT_CHECKS[prop](case)


@pytest.mark.parametrize("prop", list(C.NORM_CHECKS))
@pytest.mark.parametrize("ndim", C.NDIMS)
@pytest.mark.parametrize("case", NORM_CASES)
def test_norm(case, ndim, prop):
  C.NORM_CHECKS[prop](case, ndim)


@pytest.mark.parametrize("case", ROI_CASES)
def test_roi_pool_entry_is_its_function(case):
  C.roi_entry_is_its_function(case)


def test_every_declared_option_has_a_non_default_case():
  for registry, cases in ((POOLS, POOL_CASES), (ACTIVATIONS, ACT_CASES), (NORMS, NORM_CASES),
                          (ROI_POOLS, ROI_CASES)):
    for name, entry in registry.items():
      for option in entry.options:
        assert any(c.startswith(f"{name}({option.name}=") for c in cases), (name, option)
