"""Regression tests of the shipped reward models (``resolve_rm("default")`` and ``resolve_rm("default-judge")``):
each is rebuilt from its committed delta, reproduces the sanity score in its training report, and meets the
sanity-suite targets of docs/reward-models.md."""

import json

import pytest

from neat_data import models
from neat_data.hh import load_hh
from neat_data.scoring import RewardScorer
from neat_train.reward_model import SANITY_SUITE, evaluate_pairs

ACCURACY, PER_CATEGORY, LENGTH_SPLIT = 0.85, 0.60, 0.75  # the targets the shipped RMs were chosen against


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(models.EMBEDDED_RMS))
def test_shipped_rm_meets_the_sanity_targets(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "data"))
    _, delta_dir, _ = models.EMBEDDED_RMS[name]
    delta = models.PROJECT_ROOT / delta_dir
    assert (delta / "adapter_model.safetensors").stat().st_size < 8 * 2**20  # the shipped part stays small
    report = json.loads((delta / "neat_rm_train.json").read_text())
    scorer = RewardScorer(models.resolve_rm(name), device="cpu", use_cache=False, progress=False)
    assert scorer.max_length == report["train"]["max_length"]
    result = evaluate_pairs(scorer, load_hh(str(SANITY_SUITE)).pairs)
    assert result["accuracy"] == pytest.approx(report["sanity"]["sanity.jsonl"]["accuracy"], abs=1.5 / 128)
    assert result["accuracy"] >= ACCURACY
    assert min(v["accuracy"] for v in result["by_category"].values()) >= PER_CATEGORY, result["by_category"]
    assert min(result["accuracy_chosen_longer"], result["accuracy_chosen_shorter"]) >= LENGTH_SPLIT
