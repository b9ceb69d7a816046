"""`neat export`: a round as TRL preference data, checked with TRL's own dataset utilities (TRL is in the dev
extra) and, for the standard format, by parsing it back with neat's HH-RLHF reader."""

from __future__ import annotations

import json

import pytest

from flows.cli import main as neat
from neat_data.hh import parse_row, query_id, split_of
from neat_data.ranking import make_response
from neat_data.shards import RoundWriter, read_round, round_dir


def query(i: int) -> list[dict]:
    if i % 3 == 0:  # a multi-turn query
        return [
            {"role": "user", "content": f"Hi {i}"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": f"How do I bake loaf {i}?"},
        ]
    return [{"role": "user", "content": f"What is {i} + {i}?"}]


@pytest.fixture
def scored_round(tmp_path):
    rows = []
    for i in range(30):
        rewards = {"dataset_chosen": 2.0 + i, "negative_prompt": -1.0, "positive_prompt": 0.5}
        if i == 1:
            rewards = {"dataset_chosen": 1.0}  # one response: no pair
        if i == 2:
            rewards = {"dataset_chosen": 0.5, "positive_prompt": 0.5}  # tied: no pair
        responses = [make_response(f"reply {i} from {s}", s, reward=r) for s, r in rewards.items()]
        rows.append(
            {"query_id": query_id(query(i)), "messages": query(i), "responses": responses, "origin": [f"f:{i}"]}
        )
    assert {split_of(r["query_id"]) for r in rows} == {"train", "test"}
    writer = RoundWriter(round_dir(tmp_path / "run", 3), 3, config={})
    writer.write_shard(0, rows)
    writer.commit()
    return round_dir(tmp_path / "run", 3)


def export(source, out, *flags):
    return neat(["export", str(source), "--out", str(out), *flags])


def test_conversational_best_worst_pairs_load_into_trl(scored_round, tmp_path, tiny_tokenizer, capsys):
    import datasets
    from trl import apply_chat_template, is_conversational, unpair_preference_dataset

    out = tmp_path / "export"
    assert export(scored_round, out, "--format", "trl-conversational", "--pairs", "best-worst") == 0
    assert "no pair from 1 with one response and 1 with tied rewards" in capsys.readouterr().out
    dd = datasets.load_from_disk(str(out))
    assert set(dd) == {"train", "test"}
    rows = {r["query_id"]: r for r in read_round(scored_round)}
    assert dd["train"].num_rows + dd["test"].num_rows == len(rows) - 2
    for split, ds in dd.items():
        for example in ds:
            row = rows[example["query_id"]]
            assert split_of(example["query_id"]) == split and example["round"] == 3
            assert example["prompt"] == row["messages"]
            assert example["chosen"] == [{"role": "assistant", "content": row["responses"][0]["text"]}]
            assert example["rejected"] == [{"role": "assistant", "content": row["responses"][-1]["text"]}]
            assert (
                example["chosen_reward"] > example["rejected_reward"]
                and example["rejected_source"] == "negative_prompt"
            )
    example = dd["train"][0]
    assert is_conversational(example)
    text = apply_chat_template(example, tiny_tokenizer)  # what DPOTrainer does before tokenizing
    assert set(text) >= {"prompt", "chosen", "rejected"} and example["chosen"][0]["content"] in text["chosen"]
    assert example["prompt"][-1]["content"] in text["prompt"] and text["prompt"].endswith("assistant\n")
    kto = unpair_preference_dataset(dd["train"])  # KTO's unpaired type
    assert kto.num_rows == 2 * dd["train"].num_rows and set(kto["label"]) == {True, False}
    assert json.loads((out / "_neat_export.json").read_text())["skipped"] == {"one_response": 1, "all_tied": 1}


def test_all_pairs_standard_format_parquet_round_trips_through_the_hh_reader(scored_round, tmp_path):
    import datasets
    from trl import is_conversational

    out = tmp_path / "export"
    assert export(scored_round, out, "--format", "trl-preference", "--pairs", "all", "--save", "parquet") == 0
    assert sorted(p.name for p in out.iterdir()) == ["_neat_export.json", "test.parquet", "train.parquet"]
    dd = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))  # splits from the file names
    rows = {r["query_id"]: r for r in read_round(scored_round)}
    assert dd["train"].num_rows + dd["test"].num_rows == 3 * (len(rows) - 2)  # 3 distinct rewards: 3 pairs each
    for example in dd["train"]:
        assert not is_conversational(example)
        messages, chosen, rejected = parse_row(
            {"chosen": example["prompt"] + example["chosen"], "rejected": example["prompt"] + example["rejected"]}
        )
        assert messages == rows[example["query_id"]]["messages"]  # the HH-RLHF transcript parses back exactly
        assert example["chosen_reward"] > example["rejected_reward"]


def test_jsonl_and_bad_input(scored_round, tmp_path, capsys):
    out = tmp_path / "export"
    assert export(scored_round.parent, out, "--format", "jsonl") == 0  # a data root: its latest round
    lines = [json.loads(line) for split in ("train", "test") for line in (out / f"{split}.jsonl").open()]
    assert len(lines) == 28 and all(line["prompt"][-1]["role"] == "user" for line in lines)
    assert export(scored_round, out) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert export(scored_round, tmp_path / "x", "--format", "dpo") == 2
    assert "argument --format: invalid choice: 'dpo'" in capsys.readouterr().err
    assert export(tmp_path / "nowhere", tmp_path / "y") == 2
    assert not (tmp_path / "y").exists()


def test_trl_dpo_trainer_trains_on_the_export(scored_round, tmp_path, tiny_policy_dir):
    """The end use: TRL's DPOTrainer takes the export as is (its own prompt extraction, chat template and
    tokenization) and makes optimizer steps on the tiny policy."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    out = tmp_path / "export"
    assert export(scored_round, out) == 0
    train = datasets.load_from_disk(str(out))["train"]
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=2,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        max_length=128,
    )
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_policy_dir),
        args=args,
        train_dataset=train,
        processing_class=AutoTokenizer.from_pretrained(tiny_policy_dir),
    )
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
