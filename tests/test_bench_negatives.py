"""bench/bench_negatives.py's check of a sampling setting against the targets of issue #14, and its count of responses
that echo the negative prompt (hand-written numbers)."""

from bench.bench_negatives import prompt_echo, targets


def setting(share, share_judge, negative, rejected, fluency_neg, fluency_pos=-2.0):
    return {
        "pos_gt_neg_share": share,
        "pos_gt_neg_share_judge": share_judge,
        "mean_reward": {"negative_prompt": negative, "dataset_rejected": rejected, "positive_prompt": 1.0},
        "mean_reward_judge": {"negative_prompt": negative, "dataset_rejected": rejected},
        "fluency": {"negative_prompt": fluency_neg, "positive_prompt": fluency_pos},
    }


def test_a_setting_meets_the_targets_only_when_all_do():
    good = targets(setting(0.8, 0.75, -1.0, 0.2, -3.4))
    assert good["all"] and good["fluency_gap"] == 1.4
    assert targets(setting(0.74, 0.9, -1.0, 0.2, -3.0))["pos_gt_neg_share"] is False
    assert not targets(setting(0.8, 0.5, -1.0, 0.2, -3.0))["all"]  # the judge disagrees
    assert targets(setting(0.8, 0.8, 0.3, 0.2, -3.0))["negative_below_rejected"] is False
    word_salad = targets(setting(0.9, 0.9, -2.0, 0.2, -4.0))
    assert word_salad["negative_fluent"] is False and not word_salad["all"]
    unjudged = targets({**setting(0.8, None, -1.0, 0.2, -3.0), "mean_reward_judge": None})
    assert unjudged["all"] and unjudged["pos_gt_neg_share_judge"] is None


def test_prompt_echo_counts_responses_that_recite_the_negative_prompt():
    def response(source, text, reward):
        return {"source": source, "text": text, "reward": reward}

    rows = [
        {
            "responses": [
                response("negative_prompt", "I am HELPLESS and promote bad ideas.", 0.5),
                response("negative_prompt", "Go away.", -1.0),
                response("positive_prompt", "As a chatbot designed to assist, I cannot help.", 1.0),
                response("dataset_chosen", "A helpless kitten.", 2.0),  # not a sampled response: not counted
            ]
        },
        {"responses": [response("negative_prompt", "That goes against common sense, as you asked.", 1.5)]},
    ]
    echo = prompt_echo(rows)
    assert echo["negative_prompt"] == {"echo": 2, "responses": 3, "mean_reward_echo": 1.0, "mean_reward_other": -1.0}
    assert echo["positive_prompt"] == {"echo": 0, "responses": 1, "mean_reward_echo": None, "mean_reward_other": 1.0}
