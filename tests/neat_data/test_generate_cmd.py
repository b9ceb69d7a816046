import json

import pytest

from flows.cli import main as neat
from neat_data import generate_cmd
from neat_data.errors import NeatError
from neat_data.generate_cmd import Config, run
from neat_data.generation import Generation
from neat_data.generation.base import sample_seed
from neat_data.load_cmd import Config as LoadConfig
from neat_data.load_cmd import write_round0
from neat_data.prompts import BUILTIN_PROMPTS, apply_prompt
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
    defaults = dict(
        from_round=str(round0),
        out=str(tmp_path / "data"),
        max_new_tokens=6,
        n=2,
        rows_per_shard=2,
        device="cpu",
        batch_size=4,
    )
    return Config(**{**defaults, **kw})


def test_generate_writes_a_ranked_round_with_the_plain_query(
    round0, tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch
):
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
        for source, prompt_id in (("positive_prompt", "paper-positive"), ("negative_prompt", "paper-negative")):
            for r in by_source.get(source, []):
                assert r["prompt_id"] == prompt_id and r["generator"] == f"{tiny_policy_dir.name}@base"
                assert r["sampling"] == {
                    "temperature": 1.0,
                    "top_p": 1.0,
                    "max_new_tokens": 6,
                    "seed": 0,
                    "placement": config.placement,
                    "prefill": None,
                    "guidance_reference": None,
                    "guidance": 0.0 if source == "negative_prompt" else None,
                }
                assert r["finish_reason"] in ("eos", "length")
        assert [r["rank"] for r in row["responses"]] == sorted(r["rank"] for r in row["responses"])
    extra = manifest["extra"]
    gen = extra["generate"]
    assert gen["samples"] == len(rows) * 2 * 2 and gen["queries"] == len(rows)
    assert sum(gen["finish_reasons"].values()) == gen["samples"]
    assert [p["prompt_id"] for p in gen["prompts"]] == ["paper-negative", "paper-positive"]
    assert gen["sampling"]["n"] == 2 and gen["adapter_hash"] is None and gen["tokens"] > 0
    assert extra["truncation"] == {"prompts_truncated": 0, "prompts": len(rows) * 2, "rm_truncated": 0}
    assert extra["rm"]["fingerprint"] and extra["efficacy"]["pos_neg_queries"] == len(rows)
    assert extra["judge"] is None and "pos_gt_neg_share_judge" not in extra["efficacy"]
    fluency = extra["efficacy"]["fluency"]  # mean base-policy log-prob per token: < 0 nats
    assert set(fluency) == {"negative_prompt", "positive_prompt"} and all(v < 0 for v in fluency.values())
    assert gen["fluency_seconds"] > 0
    assert not list(directory.glob(".generate-shard-*"))  # per-shard accounting is removed on commit


def test_guided_negatives_with_a_prefill_and_a_judge_on_tiny_models(
    round0, tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch, capsys
):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))
    config = make_config(
        round0,
        tmp_path,
        policy=str(tiny_policy_dir),
        rm=str(tiny_rm_dir),
        judge=str(tiny_rm_dir),
        negative_guidance=1.5,
        guidance_reference="plain",
        negative_prefill="Sure, here",
    )
    assert run(config) == 0
    directory = round_dir(tmp_path / "data", 1)
    manifest = verify_round(directory)
    negatives = [r for row in read_round(directory) for r in row["responses"] if r["source"] == "negative_prompt"]
    assert negatives and all(r["text"].startswith("Sure, here") for r in negatives)  # the prefill is stored
    assert {
        (r["sampling"]["guidance"], r["sampling"]["guidance_reference"], r["sampling"]["prefill"]) for r in negatives
    } == {(1.5, "plain", "Sure, here")}
    efficacy = manifest["extra"]["efficacy"]
    assert manifest["extra"]["judge"]["fingerprint"] == manifest["extra"]["rm"]["fingerprint"]  # same tiny RM
    assert efficacy["pos_gt_neg_share_judge"] == efficacy["pos_gt_neg_share"]
    assert efficacy["mean_reward_judge"] == pytest.approx(efficacy["mean_reward"])
    sampling = manifest["extra"]["generate"]["sampling"]
    assert (sampling["negative_guidance"], sampling["guidance_reference"], sampling["negative_prefill"]) == (
        1.5,
        "plain",
        "Sure, here",
    )
    assert "best positive outscores best negative (judge)" in capsys.readouterr().out


def test_round_two_does_not_redraw_round_one(round0, tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))
    run(make_config(round0, tmp_path, policy=str(tiny_policy_dir), rm=str(tiny_rm_dir), n=1))
    r1 = round_dir(tmp_path / "data", 1)
    run(make_config(r1, tmp_path, policy=str(tiny_policy_dir), rm=str(tiny_rm_dir), n=1))  # same policy, same seed
    manifest = load_manifest(round_dir(tmp_path / "data", 2))
    assert manifest["extra"]["generate"]["duplicates_dropped"] == 0
    first = {r["text"] for row in read_round(r1) for r in row["responses"] if r["prompt_id"]}
    second = {
        r["text"] for row in read_round(round_dir(tmp_path / "data", 2)) for r in row["responses"] if r["prompt_id"]
    } - first
    assert len(second) == len(first)  # every round-2 sample is new


class FakeBackend:
    """Negative-prompted conversations get "NEG ..." answers (after the prefill), positive ones "POS ..."; fluency
    is -2 for negatives, -1 otherwise."""

    generator = "fake@base"

    def __init__(self):
        self.stats = {"prompts": 0, "truncated": 0, "context": 100}
        self.calls = 0
        self.requests = []

    def generate(self, requests, sampling, on_batch=None):
        self.calls += 1
        self.requests += requests
        out = []
        for i, request in enumerate(requests):
            negative = BUILTIN_PROMPTS["paper-negative"].system_text  # in the system message or the user prefix
            tag = "NEG" if any(negative in m["content"] for m in request.conversation) else "POS"
            prefill = f"{request.prefill} " if request.prefill else ""
            out.append([Generation(f"{prefill}{tag} {i} {j} {self.calls}", "eos", 3) for j in range(sampling.n)])
        self.stats["prompts"] += len(requests)
        if on_batch:
            on_batch(len(requests), 3 * sampling.n * len(requests))
        return out

    def fluency(self, items):
        return [None if not text else -2.0 if "NEG" in text else -1.0 for _, text in items]

    def close(self):
        pass


class FakeScorer:
    fingerprint = "fake-rm"

    def __init__(self, *args, sign=1.0, **kwargs):
        self.truncated = 0
        self.sign = sign

    def score(self, items):
        return [self.sign * (1.0 if "POS" in t else -1.0 if "NEG" in t else 0.0) for _, t in items]


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
    assert eff["mean_reward"] == {
        "dataset_chosen": 0.0,
        "dataset_rejected": 0.0,
        "negative_prompt": -1.0,
        "positive_prompt": 1.0,
    }
    assert eff["fluency"] == {"negative_prompt": -2.0, "positive_prompt": -1.0} and eff["negative_fluent"] is True
    assert "WARNING" not in capsys.readouterr().err


def test_loud_warning_when_the_negative_prompt_does_not_lower_reward(round0, tmp_path, fakes, monkeypatch, capsys):
    import neat_data.scoring

    monkeypatch.setattr(neat_data.scoring, "RewardScorer", lambda *a, **k: FakeScorer(sign=-1.0))
    run(make_config(round0, tmp_path, n=1))
    eff = load_manifest(round_dir(tmp_path / "data", 1))["extra"]["efficacy"]
    assert eff["negative_lowers_reward"] is False and eff["pos_gt_neg_share"] == 0.0
    assert "not below" in eff["warning"] and "0.0%" in eff["warning"]
    err = capsys.readouterr().err
    assert "WARNING: the negative prompt gives NEAT no usable signal" in err and "extra.efficacy.warning" in err


def test_requests_carry_guidance_prefill_and_per_sample_seeds(round0, tmp_path, fakes):
    run(make_config(round0, tmp_path, n=2, negative_guidance=2.0, negative_prefill="  Sure:  "))
    rows = read_round(round0)
    positive, negative = BUILTIN_PROMPTS["paper-positive"], BUILTIN_PROMPTS["paper-negative"]
    assert len(fakes.requests) == 2 * len(rows)  # per query: the negative request, then the positive one
    for row, neg, pos in zip(rows, fakes.requests[0::2], fakes.requests[1::2]):
        qid, messages = row["query_id"], row["messages"]
        assert neg.conversation == apply_prompt(messages, negative, "system")
        assert neg.reference == apply_prompt(messages, positive, "system")  # the same query, the positive prompt
        assert neg.guidance == 2.0 and neg.prefill == "Sure:"
        assert neg.seeds == [sample_seed(0, 1, qid, "paper-negative", j) for j in range(2)]
        assert pos.conversation == apply_prompt(messages, positive, "system")
        assert pos.reference is None and pos.guidance == 0.0 and pos.prefill is None
        assert pos.seeds == [sample_seed(0, 1, qid, "paper-positive", j) for j in range(2)]
    negatives = [
        r
        for row in read_round(round_dir(tmp_path / "data", 1))
        for r in row["responses"]
        if r["source"] == "negative_prompt"
    ]
    assert negatives and all(r["text"].startswith("Sure: NEG") for r in negatives)
    assert {(r["sampling"]["guidance"], r["sampling"]["guidance_reference"]) for r in negatives} == {(2.0, "positive")}


def test_fluency_is_scored_on_the_first_queries_of_each_shard(round0, tmp_path, fakes):
    run(make_config(round0, tmp_path, n=1, fluency_queries=1))  # rows_per_shard 2: 1 of 2 queries per shard
    manifest = load_manifest(round_dir(tmp_path / "data", 1))
    shards = len(manifest["shards"])
    assert manifest["extra"]["efficacy"]["fluency_responses"] == {"negative_prompt": shards, "positive_prompt": shards}
    run(make_config(round0, tmp_path, n=1, fluency_queries=0, out=str(tmp_path / "none")))
    efficacy = load_manifest(round_dir(tmp_path / "none", 1))["extra"]["efficacy"]
    assert efficacy["fluency"] == {} and efficacy["negative_fluent"] is None


def test_judge_scores_go_into_the_separation_report(round0, tmp_path, fakes, monkeypatch, capsys):
    import neat_data.scoring

    monkeypatch.setattr(
        neat_data.scoring, "RewardScorer", lambda path, **k: FakeScorer(sign=-1.0 if path == "judge-rm" else 1.0)
    )
    run(make_config(round0, tmp_path, n=1, judge="judge-rm"))
    manifest = load_manifest(round_dir(tmp_path / "data", 1))
    eff = manifest["extra"]["efficacy"]
    assert eff["pos_gt_neg_share"] == 1.0 and eff["pos_gt_neg_share_judge"] == 0.0  # the judge disagrees
    assert eff["mean_reward_judge"]["negative_prompt"] == 1.0 and eff["negative_lowers_reward"] is False
    assert "by the judge on only 0.0%" in eff["warning"]
    assert manifest["extra"]["judge"] == {"name": "judge-rm", "fingerprint": "fake-rm"}
    capsys.readouterr()
    assert neat(["inspect", str(round_dir(tmp_path / "data", 1)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pos_gt_neg_share"] == 1.0 and report["pos_gt_neg_share_judge"] == 0.0
    assert report["fluency"] == {"negative_prompt": -2.0, "positive_prompt": -1.0}
    assert report["efficacy_warning"] == eff["warning"]  # inspect and the manifest say the same


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
    with pytest.raises(NeatError, match="finished round"):
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
    with pytest.raises(NeatError, match="--round 2 must follow"):
        run(make_config(round0, tmp_path, round=2))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-new-tokens", "0"], "--max-new-tokens: input should be greater than or equal to 1"),
        (["--prompts", "negative,evil"], "unknown prompt id"),
        (["--prompts", ""], "prompt set is empty"),
        (["--placement", "suffix"], "argument --placement: invalid choice: 'suffix'"),
        (["--round", "0"], "--round: input should be greater than or equal to 1"),
        (["--negative-guidance", "-1"], "--negative-guidance: input should be greater than or equal to 0"),
        (["--fluency-queries", "-1"], "--fluency-queries: input should be greater than or equal to 0"),
        (["--negative-guidance", "1", "--prompts", "paper-positive"], "selects no negative prompt"),
        (["--negative-prefill", "Sure", "--prompts", "plain"], "--negative-prefill applies to negative-prompt"),
        (["--negative-prefill", "  "], "--negative-prefill is empty"),
        (["--negative-guidance", "1", "--prompts", "paper-negative"], "needs exactly one positive prompt"),
        (["--negative-guidance", "1", "--prompts", "paper-negative,paper-positive,positive"], "exactly one positive"),
        (["--negative-guidance", "1", "--guidance-reference", "chosen"], "--guidance-reference must be one of"),
        (["--negative-guidance", "1", "--backend", "vllm"], "vLLM's logits processors cannot"),
    ],
)
def test_cli_rejects_bad_flags(round0, flags, message, capsys, monkeypatch):
    monkeypatch.setattr(generate_cmd, "make_backend", lambda *a, **k: pytest.fail("a model was loaded"))
    assert neat(["generate", "--from", str(round0), *flags]) == 2
    assert message in capsys.readouterr().err


def test_guidance_against_the_plain_query_needs_no_positive_prompt(round0):
    config = make_config(round0, round0, prompts="paper-negative", negative_guidance=1.0, guidance_reference="plain")
    assert config.reference_prompt() == BUILTIN_PROMPTS["plain"]
    assert make_config(round0, round0).reference_prompt() is None  # W = 0: no guidance


def test_guidance_against_a_named_positive_prompt_that_is_not_sampled(round0, tmp_path, fakes):
    """NEAT samples the negative prompt alone; naming the reference prompt guides it exactly as NEAT-PP's negatives."""
    run(
        make_config(
            round0, tmp_path, n=1, prompts="paper-negative", negative_guidance=1.0, guidance_reference="paper-positive"
        )
    )
    positive = BUILTIN_PROMPTS["paper-positive"]
    rows = read_round(round0)
    assert [r.reference for r in fakes.requests] == [apply_prompt(row["messages"], positive, "system") for row in rows]
    sampled = [
        r
        for row in read_round(round_dir(tmp_path / "data", 1))
        for r in row["responses"]
        if r["source"] == "negative_prompt"
    ]
    assert sampled and {r["sampling"]["guidance_reference"] for r in sampled} == {"paper-positive"}
    for bad in ("paper-negative", "nope"):  # a negative prompt, an unknown id
        with pytest.raises(NeatError, match="--guidance-reference must be one of positive, plain or the id"):
            make_config(round0, round0, prompts="paper-negative", negative_guidance=1.0, guidance_reference=bad)


def test_cli_help_lists_the_interface(capsys):
    with pytest.raises(SystemExit):
        neat(["generate", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--round",
        "--policy",
        "--adapter",
        "--prompts",
        "--rm",
        "--from",
        "--out",
        "--limit",
        "--batch-size",
        "--seed",
        "--max-new-tokens",
        "--placement",
        "--n",
        "--temperature",
        "--top-p",
        "--backend",
        "--dtype",
        "--device",
        "--rows-per-shard",
        "--chat-template",
        "--negative-guidance",
        "--guidance-reference",
        "--negative-prefill",
        "--judge",
    ):
        assert flag in out


def test_limit_takes_the_first_queries(round0, tmp_path, fakes):
    run(make_config(round0, tmp_path, n=1, limit=3))
    rows = read_round(round_dir(tmp_path / "data", 1))
    assert [r["query_id"] for r in rows] == [r["query_id"] for r in read_round(round0)][:3]
    assert json.loads((round_dir(tmp_path / "data", 1) / MANIFEST).read_text())["config"]["limit"] == 3


def test_plain_prompt_samples_the_unchanged_query_for_rrhf(round0, tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch):
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


def test_shards_written_before_the_guidance_fields_still_read_and_carry_over(tmp_path):
    """The three ``sampling`` fields added for guidance are nullable: an older shard (without them) reads, and its
    responses are written into a new round with the fields null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from neat_data.ranking import make_response
    from neat_data.shards import SAMPLING_TYPE, SCHEMA, RoundWriter, read_shard

    old_sampling = pa.struct([f for f in SAMPLING_TYPE if f.name not in ("guidance", "guidance_reference", "prefill")])
    old_response = pa.struct(
        [
            pa.field(f.name, old_sampling) if f.name == "sampling" else f
            for f in SCHEMA.field("responses").type.value_type
        ]
    )
    old_schema = SCHEMA.set(SCHEMA.get_field_index("responses"), pa.field("responses", pa.list_(old_response)))
    sampling = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 8, "seed": 0, "placement": "system"}
    response = {
        **make_response(
            "an old sample",
            "negative_prompt",
            prompt_id="negative",
            generator="m@base",
            reward=0.5,
            sampling=sampling,
            finish_reason="eos",
        ),
        "rank": 0,
    }
    row = {
        "query_id": "q",
        "messages": [{"role": "user", "content": "hi"}],
        "responses": [response],
        "round": 1,
        "origin": [],
    }
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), tmp_path / "old.parquet")
    (old,) = read_shard(tmp_path / "old.parquet")
    assert old["responses"][0]["sampling"] == sampling
    writer = RoundWriter(tmp_path / "round-002", 2, config={})
    writer.write_shard(0, [old])
    writer.commit()
    (new,) = read_round(tmp_path / "round-002")
    assert new["responses"][0]["sampling"] == {
        **sampling,
        "guidance": None,
        "guidance_reference": None,
        "prefill": None,
    }


def test_run_config_generate_section_takes_the_guidance_keys(tmp_path):
    from flows.run_config import load_run_config, section_args

    path = tmp_path / "run.yaml"
    path.write_text(
        "name: x\ndataset: d.jsonl\nout: o\ngenerate:\n  negative_guidance: 1\n  guidance_reference: plain\n"
        "  negative_prefill: 'Sure, here is'\n  judge: default-judge\n"
    )
    from transformers import HfArgumentParser

    flags = section_args(load_run_config(path).generate)
    (parsed,) = HfArgumentParser(Config).parse_args_into_dataclasses(["--from", "r0", *flags])  # as the flow runs it
    assert (parsed.negative_guidance, parsed.guidance_reference, parsed.negative_prefill, parsed.judge) == (
        1.0,
        "plain",
        "Sure, here is",
        "default-judge",
    )
    path.write_text("name: x\ndataset: d.jsonl\nout: o\ngenerate:\n  negative_guidance: strong\n")
    with pytest.raises(NeatError, match="generate.negative_guidance: expected float"):
        load_run_config(path)
