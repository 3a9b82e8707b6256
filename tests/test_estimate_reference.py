"""The estimates and foldings of the shipped models stay what the reference says.

tests/data/estimate_reference.json was written by tests/data/make_estimate_reference.py;
a change to any figure there must be deliberate (regenerate it and say why).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_estimate_reference",
                                                  DATA / "make_estimate_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()
REFERENCE = json.loads((DATA / "estimate_reference.json").read_text())
MODELS = sorted({case["model"] for case in MAKER.cases()})


def test_reference_covers_every_case():
    assert sorted(REFERENCE) == sorted(MAKER.case_name(c) for c in MAKER.cases())


@pytest.mark.parametrize("model", MODELS)
def test_estimates_match_reference(model, tmp_path):
    mismatches = []
    for i, case in enumerate(c for c in MAKER.cases() if c["model"] == model):
        name = MAKER.case_name(case)
        got = json.loads(json.dumps(MAKER.run_case(case, tmp_path / f"out{i}")))
        want = REFERENCE[name]
        for part in want:
            # the reference's figures must not change; a report may gain keys
            # (critical_path_layers came with the dataflow graph)
            shown = got[part]
            if isinstance(shown, dict) and isinstance(want[part], dict):
                shown = {k: v for k, v in shown.items() if k in want[part]}
            if shown != want[part]:
                mismatches.append(f"{name}: {part}\n  got  {got[part]}\n  want {want[part]}")
    assert not mismatches, "\n".join(mismatches[:5])
