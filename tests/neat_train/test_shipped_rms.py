"""Regression tests of the shipped reward models (``resolve_rm("default")`` and ``resolve_rm("default-judge")``):
each is rebuilt from its committed delta and reproduces, on the shipped sanity suite, every number its training report
recorded (overall, per category, split by length). Beyond that they are held to what they were chosen for
(docs/reward-models.md): no length rule — better than "shorter wins" and reward nearly uncorrelated with length —
and clearly better than chance on obvious pairs. The issue's full targets (sanity ≥ 85 %, every category ≥ 60 %,
length splits ≥ 75 %) are not met yet; docs/reward-models.md has the measurements."""

import json

import pytest

from neat_data import models
from neat_data.hh import load_hh
from neat_data.scoring import RewardScorer
from neat_train.reward_model import SANITY_SUITE, evaluate_pairs

ONE_PAIR = 1.5 / 128  # a score reproduces when it is within about one pair of the recorded one


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(models.EMBEDDED_RMS))
def test_shipped_rm_reproduces_its_report_and_has_no_length_rule(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "data"))
    _, delta_dir, _ = models.EMBEDDED_RMS[name]
    delta = models.PROJECT_ROOT / delta_dir
    assert (delta / "adapter_model.safetensors").stat().st_size < 8 * 2**20  # the shipped part stays small
    report = json.loads((delta / "neat_rm_train.json").read_text())
    scorer = RewardScorer(models.resolve_rm(name), device="cpu", use_cache=False, progress=False)
    assert scorer.max_length == report["config"]["max_length"]
    result = evaluate_pairs(scorer, load_hh(str(SANITY_SUITE)).pairs)
    recorded = report["sanity"]["sanity.jsonl"]
    for key in ("accuracy", "accuracy_chosen_longer", "accuracy_chosen_shorter"):
        assert result[key] == pytest.approx(recorded[key], abs=2 * ONE_PAIR), key
    assert {c: v["accuracy"] for c, v in result["by_category"].items()} == pytest.approx(
        {c: v["accuracy"] for c, v in recorded["by_category"].items()}, abs=1.5 / 16
    )
    assert result["accuracy"] >= 0.60 and result["accuracy"] > result["shorter_wins_accuracy"] + 0.10
    assert min(result["accuracy_chosen_longer"], result["accuracy_chosen_shorter"]) >= 0.55
    assert abs(result["length_spearman"]) < 0.2
