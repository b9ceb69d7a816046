import json

import pytest

from neat_data.errors import NeatDataError
from neat_data.hh import load_hh
from neat_data.scoring import RewardScorer
from neat_train import rm_eval_cmd, rm_train_cmd
from neat_train.reward_model import evaluate_pairs


def train_config(hh_file, base, out, **kw):
    kw = {"train_on": "all", "epochs": 8, "learning_rate": 1e-2, "batch_size": 2, "lora_r": 4, "max_length": 64, **kw}
    return rm_train_cmd.Config(pairs=str(hh_file), out=str(out), base=str(base), **kw)


def accuracy(rm_dir, hh_file, tmp_path):
    scorer = RewardScorer(str(rm_dir), device="cpu", use_cache=False, progress=False)
    return evaluate_pairs(scorer, load_hh(str(hh_file)).pairs)


def test_rm_train_fits_the_pairs_and_its_delta_rebuilds_the_same_model(hh_file, tiny_rm_dir, tmp_path):
    from neat_data.models import materialise_rm

    before = accuracy(tiny_rm_dir, hh_file, tmp_path)
    out, delta = tmp_path / "rm", tmp_path / "rm-delta"
    assert rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, delta_out=str(delta))) == 0
    after = accuracy(out, hh_file, tmp_path)
    assert after["accuracy"] == 1.0 and after["mean_margin"] > before["mean_margin"]
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["train"]["pairs"] == 4 and report["train"]["method"] == "lora"
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 1
    tok = json.loads((out / "tokenizer_config.json").read_text())
    assert tok["truncation_side"] == "left" and tok["model_max_length"] == 64
    rebuilt = tmp_path / "rebuilt"
    materialise_rm(tiny_rm_dir, delta, rebuilt)
    items = [(p.messages, p.chosen) for p in load_hh(str(hh_file)).pairs]
    a = RewardScorer(str(out), device="cpu", use_cache=False, progress=False).score(items)
    b = RewardScorer(str(rebuilt), device="cpu", use_cache=False, progress=False).score(items)
    assert a == pytest.approx(b, abs=1e-5)
    with pytest.raises(NeatDataError, match="--overwrite"):
        rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out))


def test_rm_train_holds_out_the_test_split(hh_file, tiny_rm_dir, tmp_path, capsys, monkeypatch):
    import neat_data.hh

    monkeypatch.setattr(neat_data.hh, "split_of", lambda qid, *a, **k: "test" if qid < "8" else "train")
    pairs = load_hh(str(hh_file)).pairs
    n_test = sum(p.query_id < "8" for p in pairs)
    if n_test in (0, len(pairs)):
        pytest.skip("the fixture's query ids all fall on one side of the split")
    out = tmp_path / "rm"
    rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, train_on="train", epochs=1))
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["train"]["pairs"] == len(pairs) - n_test and report["held_out"]["pairs"] == n_test
    assert "held-out pairwise accuracy" in capsys.readouterr().out


def test_rm_eval_json(hh_file, tiny_rm_dir, capsys):
    rm_eval_cmd.run(rm_eval_cmd.Config(pairs=str(hh_file), rm=str(tiny_rm_dir), json=True, device="cpu"))
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 4 and 0.0 <= result["accuracy"] <= 1.0
    assert {"mean_margin", "scores", "chosen", "rejected", "fingerprint"} <= set(result)
    scorer = RewardScorer(str(tiny_rm_dir), device="cpu", use_cache=False, progress=False)
    pairs = load_hh(str(hh_file)).pairs
    chosen = scorer.score([(p.messages, p.chosen) for p in pairs])
    rejected = scorer.score([(p.messages, p.rejected) for p in pairs])
    assert result["accuracy"] == sum(c > r for c, r in zip(chosen, rejected)) / 4
    assert result["mean_margin"] == pytest.approx(sum(c - r for c, r in zip(chosen, rejected)) / 4, abs=1e-6)
    with pytest.raises(NeatDataError, match="--subset"):
        rm_eval_cmd.Config(pairs=str(hh_file), subset="dev")


def test_rm_train_rejects_bad_flags(hh_file):
    with pytest.raises(NeatDataError, match="--delta-out needs --method lora"):
        rm_train_cmd.Config(pairs=str(hh_file), method="full", delta_out="x")
    with pytest.raises(NeatDataError, match="--train-on"):
        rm_train_cmd.Config(pairs=str(hh_file), train_on="test")


@pytest.mark.parametrize("command", [["rm", "train"], ["rm", "eval"], ["score"]])
def test_help_lists_the_flags_others_rely_on(command, capsys):
    from flows.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    flags = {"rm train": ["--pairs", "--out", "--limit", "--seed"], "rm eval": ["--pairs", "--rm", "--json", "--limit"],
             "score": ["--dataset", "--rm", "--out", "--limit", "--batch-size"]}[" ".join(command)]
    assert all(flag in out for flag in flags)
