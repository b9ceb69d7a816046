"""The separation report and the one efficacy rule (``neat generate`` writes it, ``neat inspect`` reads it)."""

from neat_data.stats import FLUENCY_GAP, efficacy, separation_report, summarize


def row(*responses):
    return {"responses": [dict(zip(("source", "reward", "fluency", "judge"), r)) for r in responses]}


def test_reward_reference_is_positive_samples_else_dataset_chosen():
    report = separation_report(
        [row(("dataset_chosen", 1.0), ("negative_prompt", 2.0)), row(("dataset_chosen", 3.0), ("negative_prompt", 0.0))]
    )
    assert report["reference"] == "dataset_chosen" and report["pos_gt_neg_share"] is None
    assert report["negative_lowers_reward"] is True and report["warning"] is None  # 1.0 < 2.0
    assert separation_report([row(("dataset_chosen", 1.0))])["negative_lowers_reward"] is None
    mixed = [
        row(("positive_prompt", 1.0), ("negative_prompt", 0.0)),
        row(("positive_prompt", 0.0), ("negative_prompt", 0.5)),
    ]
    report = separation_report(mixed)
    assert report["reference"] == "positive_prompt"
    assert report["pos_gt_neg_share"] == summarize(mixed)["pos_gt_neg_share"] == 0.5
    assert report["negative_lowers_reward"] is False and "50.0%" in report["warning"]


def test_fluency_is_averaged_per_source_and_a_large_gap_is_flagged():
    rows = [
        row(("positive_prompt", 1.0, -1.0), ("negative_prompt", 0.0, -2.0)),
        row(("positive_prompt", 1.0, -1.5), ("negative_prompt", 0.0, None)),  # an empty response: no fluency
        row(("dataset_chosen", 0.5)),
    ]
    report = separation_report(rows)
    assert report["fluency"] == {"negative_prompt": -2.0, "positive_prompt": -1.25}
    assert report["negative_fluent"] is True and report["warning"] is None  # 0.75 nats/token below
    salad = separation_report([row(("positive_prompt", 1.0, -1.0), ("negative_prompt", 0.0, -1.0 - FLUENCY_GAP - 0.1))])
    assert salad["negative_lowers_reward"] is True and salad["negative_fluent"] is False
    assert "probably not fluent" in salad["warning"]
    plain_reference = separation_report([row(("policy_sample", 0.5, -1.0), ("negative_prompt", 0.0, -4.0))])
    assert plain_reference["negative_fluent"] is False  # compared with the plain-query samples


def test_the_judge_has_its_own_share_and_can_raise_the_warning():
    rows = [row(("positive_prompt", 1.0, None, -1.0), ("negative_prompt", 0.0, None, 1.0))]
    report = separation_report(rows, judged=True)
    assert report["pos_gt_neg_share"] == 1.0 and report["pos_gt_neg_share_judge"] == 0.0
    assert report["mean_reward_judge"] == {"negative_prompt": 1.0, "positive_prompt": -1.0}
    assert report["negative_lowers_reward"] is False and "by the judge" in report["warning"]
    assert "pos_gt_neg_share_judge" not in separation_report(rows)


def test_the_rule_applies_to_a_stored_report_as_to_fresh_rows():
    rows = [row(("positive_prompt", 0.0, -1.0), ("negative_prompt", 1.0, -1.2))]
    fresh = separation_report(rows)
    stored = {k: fresh[k] for k in ("mean_reward", "pos_gt_neg_share", "pos_neg_queries", "fluency")}  # a manifest
    assert efficacy(stored) == {
        k: fresh[k] for k in ("reference", "negative_lowers_reward", "negative_fluent", "warning")
    }
