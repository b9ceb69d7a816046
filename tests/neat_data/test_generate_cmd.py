import json

import pytest

from flows.cli import main as neat
from neat_data import generate_cmd
from neat_data.errors import NeatDataError
from neat_data.generate_cmd import Config, efficacy_report, run
from neat_data.generation import Generation
from neat_data.load_cmd import Config as LoadConfig
from neat_data.load_cmd import write_round0
from neat_data.prompts import BUILTIN_PROMPTS
from neat_data.shards import MANIFEST, load_manifest, read_round, round_dir, verify_round
from neat_data.stats import summarize


@pytest.fixture
def round0(tmp_path, hh_file):
    load = LoadConfig(dataset=str(hh_file), out=str(tmp_path / "data"))
    result = load.load()
    rows, accounting = result.queries(0)
    directory, _ = write_round0(load, rows, accounting, result.rejects)
    return directory


def make_config(round0, tmp_path, **kw):
    defaults = dict(from_round=str(round0), out=str(tmp_path / "data"), max_new_tokens=6, n=2, rows_per_shard=2,
                    device="cpu", batch_size=4)
    return Config(**{**defaults, **kw})


def test_generate_writes_a_ranked_round_with_the_plain_query(round0, tmp_path, tiny_policy_dir, tiny_rm_dir,
                                                             monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))  # the RM score cache goes there
    config = make_config(round0, tmp_path, policy=str(tiny_policy_dir), rm=str(tiny_rm_dir))
    assert run(config) == 0
    directory = round_dir(tmp_path / "data", 1)
    manifest = verify_round(directory)
    rows, prev = read_round(directory), {r["query_id"]: r for r in read_round(round0)}
    assert manifest["round"] == 1 and len(rows) == len(prev) and len(manifest["shards"]) == 2
    for row in rows:
        assert row["messages"] == prev[row["query_id"]]["messages"]  # the stored query is the original one
        by_source = {}
        for r in row["responses"]:
            by_source.setdefault(r["source"], []).append(r)
            assert r["reward"] is not None and r["rank"] is not None
        assert {r["text"] for r in prev[row["query_id"]]["responses"]} <= {r["text"] for r in row["responses"]}
        for source, prompt_id in (("positive_prompt", "positive"), ("negative_prompt", "negative")):
            for r in by_source.get(source, []):
                assert r["prompt_id"] == prompt_id and r["generator"] == f"{tiny_policy_dir.name}@base"
                assert r["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 6, "seed": 0,
                                         "placement": config.placement}
                assert r["finish_reason"] in ("eos", "length")
        assert [r["rank"] for r in row["responses"]] == sorted(r["rank"] for r in row["responses"])
    extra = manifest["extra"]
    gen = extra["generate"]
    assert gen["samples"] == len(rows) * 2 * 2 and gen["queries"] == len(rows)
    assert sum(gen["finish_reasons"].values()) == gen["samples"]
    assert [p["prompt_id"] for p in gen["prompts"]] == ["negative", "positive"]
    assert gen["sampling"]["n"] == 2 and gen["adapter_hash"] is None and gen["tokens"] > 0
    assert extra["truncation"] == {"prompts_truncated": 0, "prompts": len(rows) * 2, "rm_truncated": 0}
    assert extra["rm"]["fingerprint"] and extra["efficacy"]["pos_neg_queries"] == len(rows)
    assert not list(directory.glob(".generate-shard-*"))  # per-shard accounting is removed on commit


class FakeBackend:
    """Negative-prompted conversations get "NEG ..." answers, positive ones "POS ..."."""

    generator = "fake@base"

    def __init__(self):
        self.stats = {"prompts": 0, "truncated": 0, "context": 100}
        self.calls = 0

    def generate(self, conversations, sampling, on_batch=None):
        self.calls += 1
        out = []
        for i, conv in enumerate(conversations):
            negative = BUILTIN_PROMPTS["negative"].system_text  # in the system message or the user prefix
            tag = "NEG" if any(negative in m["content"] for m in conv) else "POS"
            out.append([Generation(f"{tag} {i} {j} {self.calls}", "eos", 3) for j in range(sampling.n)])
        self.stats["prompts"] += len(conversations)
        if on_batch:
            on_batch(len(conversations), 3 * sampling.n * len(conversations))
        return out

    def close(self):
        pass


class FakeScorer:
    fingerprint = "fake-rm"

    def __init__(self, *args, sign=1.0, **kwargs):
        self.truncated = 0
        self.sign = sign

    def score(self, items):
        return [self.sign * (1.0 if t.startswith("POS") else -1.0 if t.startswith("NEG") else 0.0) for _, t in items]


@pytest.fixture
def fakes(monkeypatch):
    import neat_data.models
    import neat_data.scoring

    backend = FakeBackend()
    monkeypatch.setattr(generate_cmd, "make_backend", lambda *a, **k: backend)
    monkeypatch.setattr(neat_data.scoring, "RewardScorer", FakeScorer)
    monkeypatch.setattr(neat_data.models, "resolve_rm", lambda name: name)
    return backend


@pytest.mark.parametrize("placement", ["system", "user_prefix"])
def test_efficacy_report_in_manifest_when_the_negative_prompt_works(round0, tmp_path, fakes, capsys, placement):
    run(make_config(round0, tmp_path, n=1, placement=placement))
    eff = load_manifest(round_dir(tmp_path / "data", 1))["extra"]["efficacy"]
    assert eff["pos_gt_neg_share"] == 1.0 and eff["negative_lowers_reward"] is True and eff["warning"] is None
    assert eff["mean_reward"] == {"dataset_chosen": 0.0, "dataset_rejected": 0.0, "negative_prompt": -1.0,
                                  "positive_prompt": 1.0}
    assert "WARNING" not in capsys.readouterr().err


def test_loud_warning_when_the_negative_prompt_does_not_lower_reward(round0, tmp_path, fakes, monkeypatch, capsys):
    import neat_data.scoring

    monkeypatch.setattr(neat_data.scoring, "RewardScorer", lambda *a, **k: FakeScorer(sign=-1.0))
    run(make_config(round0, tmp_path, n=1))
    eff = load_manifest(round_dir(tmp_path / "data", 1))["extra"]["efficacy"]
    assert eff["negative_lowers_reward"] is False and eff["pos_gt_neg_share"] == 0.0
    assert "not below" in eff["warning"] and "0.0%" in eff["warning"]
    err = capsys.readouterr().err
    assert "WARNING: the negative prompt does NOT lower reward" in err and "extra.efficacy.warning" in err


def test_efficacy_report_counts_only_dataset_and_new_samples():
    def row(*pairs):
        return {"responses": [{"source": s, "reward": r} for s, r in pairs]}

    report = efficacy_report([row(("dataset_chosen", 1.0), ("negative_prompt", 2.0)),
                              row(("dataset_chosen", 3.0), ("negative_prompt", 0.0))])
    assert report["reference"] == "dataset_chosen" and report["pos_gt_neg_share"] is None
    assert report["negative_lowers_reward"] is True and report["warning"] is None  # 1.0 < 2.0
    assert efficacy_report([row(("dataset_chosen", 1.0))])["negative_lowers_reward"] is None
    mixed = [row(("positive_prompt", 1.0), ("negative_prompt", 0.0)), row(("positive_prompt", 0.0), ("negative_prompt", 0.5))]
    report = efficacy_report(mixed)
    assert report["pos_gt_neg_share"] == summarize(mixed)["pos_gt_neg_share"] == 0.5
    assert report["negative_lowers_reward"] is False and "50.0%" in report["warning"]


def test_resume_skips_written_shards(round0, tmp_path, fakes, monkeypatch):
    real = generate_cmd._generate_shard
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_cmd, "_generate_shard", crash_on_second)
    config = make_config(round0, tmp_path, n=1)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    directory = round_dir(tmp_path / "data", 1)
    first = (directory / "data" / "shard-00000.parquet").read_bytes()
    assert not (directory / MANIFEST).exists()
    monkeypatch.setattr(generate_cmd, "_generate_shard", real)
    fakes.calls = 0
    run(config)
    manifest = verify_round(directory)
    assert (directory / "data" / "shard-00000.parquet").read_bytes() == first  # not regenerated
    assert fakes.calls == 1 and manifest["extra"]["generate"]["shards_resumed"] == 1
    assert manifest["extra"]["generate"]["queries"] == manifest["summary"]["queries"]
    with pytest.raises(NeatDataError, match="finished round"):
        run(config)


def test_a_different_rm_rescores_carried_responses(round0, tmp_path, fakes):
    run(make_config(round0, tmp_path, n=1))
    r1 = round_dir(tmp_path / "data", 1)
    run(make_config(r1, tmp_path, n=1))  # round 2 from round 1, same RM: rewards carried over
    assert load_manifest(round_dir(tmp_path / "data", 2))["extra"]["rm"]["rescored_previous_responses"] is False
    FakeScorer.fingerprint = "another-rm"
    try:
        run(make_config(r1, tmp_path, n=1, out=str(tmp_path / "other")))
    finally:
        FakeScorer.fingerprint = "fake-rm"
    assert load_manifest(round_dir(tmp_path / "other", 2))["extra"]["rm"]["rescored_previous_responses"] is True


def test_round_must_follow_the_previous_one(round0, tmp_path, fakes):
    with pytest.raises(NeatDataError, match="--round 2 must follow"):
        run(make_config(round0, tmp_path, round=2))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-new-tokens", "0"], "max_new_tokens must be a positive"),
        (["--prompts", "negative,evil"], "unknown prompt id"),
        (["--prompts", ""], "prompt set is empty"),
        (["--placement", "suffix"], "--placement must be one of"),
        (["--round", "0"], "--round must be >= 1"),
    ],
)
def test_cli_rejects_bad_flags(round0, flags, message, capsys):
    assert neat(["generate", "--from", str(round0), *flags]) == 2
    assert message in capsys.readouterr().err


def test_cli_help_lists_the_interface(capsys):
    with pytest.raises(SystemExit):
        neat(["generate", "--help"])
    out = capsys.readouterr().out
    for flag in ("--round", "--policy", "--adapter", "--prompts", "--rm", "--from", "--out", "--limit", "--batch-size",
                 "--seed", "--max-new-tokens", "--placement", "--n", "--temperature", "--top-p", "--backend",
                 "--dtype", "--device", "--rows-per-shard", "--chat-template"):
        assert flag in out


def test_limit_takes_the_first_queries(round0, tmp_path, fakes):
    run(make_config(round0, tmp_path, n=1, limit=3))
    rows = read_round(round_dir(tmp_path / "data", 1))
    assert [r["query_id"] for r in rows] == [r["query_id"] for r in read_round(round0)][:3]
    assert json.loads((round_dir(tmp_path / "data", 1) / MANIFEST).read_text())["config"]["limit"] == 3


def test_plain_prompt_samples_the_unchanged_query_for_rrhf(round0, tmp_path, tiny_policy_dir, tiny_rm_dir,
                                                           monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))
    config = make_config(round0, tmp_path, policy=str(tiny_policy_dir), rm=str(tiny_rm_dir), prompts="plain", n=1)
    assert run(config) == 0
    directory = round_dir(tmp_path / "data", 1)
    manifest = verify_round(directory)
    rows = read_round(directory)
    sampled = [r for row in rows for r in row["responses"] if r["prompt_id"] is not None]
    assert len(sampled) + manifest["extra"]["generate"]["duplicates_dropped"] == len(rows)
    assert {(r["source"], r["prompt_id"]) for r in sampled} == {("policy_sample", "plain")}
    efficacy = manifest["extra"]["efficacy"]
    assert efficacy["pos_gt_neg_share"] is None and efficacy["warning"] is None  # nothing to judge: no warning
    assert summarize(rows)["pos_gt_neg_share"] is None
