import pytest

from flows.cli import main
from neat_data.errors import NeatError
from neat_data.scoring import RewardScorer
from neat_data.shards import load_manifest, read_round, round_dir


def test_neat_score_writes_a_ranked_round0_with_rm_fingerprint(hh_file, tiny_rm_dir, tmp_path, capsys):
    out = tmp_path / "data"
    argv = [
        "score",
        "--dataset",
        str(hh_file),
        "--rm",
        str(tiny_rm_dir),
        "--out",
        str(out),
        "--batch-size",
        "3",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--max-length",
        "40",
    ]
    assert main(argv) == 0
    rows = read_round(round_dir(out, 0))
    assert len(rows) == 4
    scorer = RewardScorer(str(tiny_rm_dir), device="cpu", max_length=40, use_cache=False, progress=False)
    for row in rows:
        rewards = [r["reward"] for r in row["responses"]]
        assert None not in rewards and rewards == sorted(rewards, reverse=True)
        assert [r["rank"] for r in row["responses"]] == [0, 1]
        assert rewards == pytest.approx(
            scorer.score([(row["messages"], r["text"]) for r in row["responses"]]), abs=1e-5
        )
    extra = load_manifest(round_dir(out, 0))["extra"]
    assert extra["rm"]["fingerprint"] == scorer.fingerprint and extra["rm"]["responses"] == 8
    assert extra["rm"]["truncated"] > 0 and extra["truncation"]["rm_truncated"] == extra["rm"]["truncated"]
    assert extra["load"]["queries"] == 4
    assert "wrote" in capsys.readouterr().out
    # a second scoring run of the same data is served from the cache
    assert main([*argv[:6], str(tmp_path / "again"), *argv[7:]]) == 0
    assert load_manifest(round_dir(tmp_path / "again", 0))["extra"]["rm"]["cache_hits"] == 8


def test_neat_score_with_a_classifier_fails_clearly(hh_file, tmp_path, capsys):
    (tmp_path / "not-a-model").mkdir()
    assert (
        main(["score", "--dataset", str(hh_file), "--rm", str(tmp_path / "not-a-model"), "--out", str(tmp_path / "d")])
        == 2
    )
    assert "no config.json" in capsys.readouterr().err


def test_bad_batch_size_is_refused(hh_file):
    from neat_data.score_cmd import Config

    with pytest.raises(NeatError, match="--batch-size"):
        Config(dataset=str(hh_file), batch_size=0)
