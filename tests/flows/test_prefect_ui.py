"""What the Prefect UI shows of a NEAT run, read back from a real Prefect API (``prefect_test_harness``): stage
output streamed into the task run's log while the stage runs, task runs named by round, reuse logged, artifacts per
round (data with the efficacy warning, separation and fluency; training losses; evaluation with the judge), the
rounds overview, and the flow parameters that override the config."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import yaml
from prefect import flow, task

import flows.rounds as rounds
from flows.run_config import KNOBS, load_run_config
from neat_data.errors import NeatError
from neat_data.hh import query_id
from neat_data.ranking import make_response
from neat_data.shards import RoundWriter, round_dir
from neat_data.stats import separation_report

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # as `neat run` does: no telemetry, less DB contention
        with prefect_test_harness(server_startup_timeout=120):
            yield


def read_back(flow_run_id) -> tuple[list, list, list]:
    """(task runs, log records, artifacts) of a flow run, after the queued logs were sent."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the logs are sent in batches in the background

    async def read():
        async with get_client() as client:
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
            return task_runs, logs, artifacts

    return asyncio.run(read())


def test_stage_output_is_streamed_into_the_task_log_while_the_stage_runs(prefect_api):
    """A child that prints, waits and prints again: its lines arrive one by one, each logged when printed (a
    progress bar's carriage-return updates become lines too), and stdout is still returned with ``capture``."""
    child = (
        "import sys, time; log = sys.stderr; log.write('first line\\n'); log.flush(); time.sleep(1.5); "
        "log.write('progress 1/2\\rprogress 2/2\\n'); log.flush(); print('{\"n\": 3}')"
    )

    @task(task_run_name="stage")
    def stage():
        return rounds.run_stage(["ignored"], launcher=[sys.executable, "-c", child], capture=True)

    @flow
    def one_stage():
        return stage()

    state = one_stage(return_state=True)
    assert state.result() == '{"n": 3}\n'  # stdout captured, not logged
    _, logs, _ = read_back(state.state_details.flow_run_id)
    lines = {log.message: log for log in logs if log.task_run_id}
    assert {"first line", "progress 1/2", "progress 2/2"} <= set(lines) and '{"n": 3}' not in lines
    assert any(m.startswith("running: ") for m in lines)
    # streamed: the line printed before the child's 1.5 s sleep was logged 1.5 s before the one printed after it
    assert (lines["progress 1/2"].timestamp - lines["first line"].timestamp).total_seconds() >= 1.2

    @task(task_run_name="merged")
    def merged():
        return rounds.run_stage(
            ["ignored"], launcher=[sys.executable, "-c", child.replace("log = sys.stderr", "log = sys.stdout")]
        )

    @flow
    def merged_stage():
        return merged()

    state = merged_stage(return_state=True)
    _, logs, _ = read_back(state.state_details.flow_run_id)
    lines = {log.message for log in logs if log.task_run_id}
    assert {"first line", "progress 1/2", "progress 2/2", '{"n": 3}'} <= lines  # one stream: stdout and stderr


# --- the story of a run --------------------------------------------------------------------------------------------


def scored(i: int, rewards: dict[str, float]) -> dict:
    messages = [{"role": "user", "content": f"How do I bake loaf number {i}?"}]
    return {
        "query_id": query_id(messages),
        "messages": messages,
        "origin": [f"demo:{i}"],
        "responses": [make_response(f"{source} reply {i}", source, reward=r) for source, r in rewards.items()],
    }


@pytest.fixture
def finished_run(tmp_path, tiny_policy_dir):
    """A finished one-round run (round 0 and 1, the round 1 adapter trained for real, both evaluations), so that
    the flow reuses every stage; round 1's negative prompt does not lower reward (the warning)."""
    from flows.cli import main as neat

    out = tmp_path / "run"
    config_path = tmp_path / "ui.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "name": "UI demo",
                "dataset": "data/demo/hh-demo.jsonl",
                "out": str(out),
                "rounds": 1,
                "policy": str(tiny_policy_dir),
                "rm": "some/rm",
                "train": {"alpha": 1.0, "beta": 0.1},
            }
        )
    )
    config = load_run_config(config_path)
    rounds.claim_run_dir(config)
    writer = RoundWriter(round_dir(out, 0), 0, config={})
    writer.write_shard(0, [scored(i, {"dataset_chosen": 1.0 + i, "dataset_rejected": -1.0}) for i in range(12)])
    writer.commit()
    rows = [
        scored(
            i,
            {
                "dataset_chosen": 1.0 + i,
                "dataset_rejected": -1.0,
                "positive_prompt": -0.5 + 0.1 * i,
                "negative_prompt": 0.3,
            },
        )
        for i in range(12)
    ]
    # the separation report `neat generate` stores, from its samples with their fluency and judge rewards
    fluency, judge = (
        {"negative_prompt": -1.6, "positive_prompt": -1.1},
        {"negative_prompt": 0.0, "positive_prompt": 1.0},
    )
    view = [
        {
            **row,
            "responses": [
                {**r, "fluency": fluency.get(r["source"]), "judge": judge.get(r["source"])} for r in row["responses"]
            ],
        }
        for row in rows
    ]
    writer = RoundWriter(round_dir(out, 1), 1, config={})
    writer.write_shard(0, rows)
    writer.commit({"efficacy": separation_report(view, judged=True)})
    adapter = rounds.adapter_dir(config, 1)
    assert (
        neat(
            [
                "train",
                "--shards",
                str(round_dir(out, 1)),
                "--policy",
                str(tiny_policy_dir),
                "--out",
                str(adapter),
                "--device",
                "cpu",
                "--max-steps",
                "2",
                "--batch-size",
                "2",
                "--train-split",
                "all",
            ]
        )
        == 0
    )
    for index in (0, 1):
        rounds.eval_path(config, index).parent.mkdir(exist_ok=True)
        rounds.eval_path(config, index).write_text(
            json.dumps(
                {
                    "round": index,
                    "adapter": str(adapter) if index else None,
                    "n": 8,
                    "mean_reward": 0.5 + index,
                    "reward_std": 0.3,
                    "chosen_mean_reward": 1.0,
                    "mean_tokens": 31.5 - index,
                    "length_controlled_reward": 0.2 + index,
                    "judge": {"rm": "some/judge", "mean_reward": -0.7 + index},
                }
            )
        )
    return config_path, config


def test_a_runs_story_task_names_reuse_artifacts_and_the_overview(prefect_api, finished_run):
    config_path, config = finished_run
    state = rounds.neat_rounds(str(config_path), return_state=True)
    assert state.is_completed(), state
    task_runs, logs, artifacts = read_back(state.state_details.flow_run_id)

    names = {t.name for t in task_runs}
    assert {
        "score round 0",
        "evaluate round 0",
        "generate round 1",
        "train round 1",
        "evaluate round 1",
        "report",
    } <= names
    messages = [log.message for log in logs]
    for what in (
        "round 0 is finished",
        "round 1 is finished",
        "the round 1 adapter is finished",
        "the round 1 evaluation is finished",
    ):
        assert any(m.startswith(what) and "reusing it" in m for m in messages), what
    warning = next(log for log in logs if "gives NEAT little signal" in log.message)
    assert warning.level == 30  # WARNING

    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {
        "ui-demo-round-0-data",
        "ui-demo-round-1-data",
        "ui-demo-round-1-training",
        "ui-demo-round-0-eval",
        "ui-demo-round-1-eval",
        "ui-demo-rounds",
    }
    data = by_key["ui-demo-round-1-data"].data
    assert "WARNING — the negative prompt gives NEAT little signal:** mean reward of negative-prompt" in data
    assert "| negative_prompt | 12 | 0.3 |" in data  # reward by source
    assert "| pos_gt_neg_share | 0.3333 |" in data and "| separation.pos_gt_neg_share | 0.3333 |" in data
    assert "| separation.pos_gt_neg_share_judge | 1 |" in data  # the judge separates, the RM does not
    assert "| separation.fluency.negative_prompt | -1.6 |" in data
    assert "WARNING" not in by_key["ui-demo-round-0-data"].data
    training = by_key["ui-demo-round-1-training"].data
    assert "2 optimizer steps" in training and "| loss_rank |" in training
    evaluation = {row["metric"]: row["value"] for row in json.loads(by_key["ui-demo-round-1-eval"].data)}
    assert evaluation["judge.mean_reward"] == pytest.approx(0.3) and evaluation["mean_tokens"] == 30.5
    assert evaluation["length_controlled_reward"] == 1.2 and evaluation["mean_reward"] == 1.5
    overview = json.loads(by_key["ui-demo-rounds"].data)
    assert [row["round"] for row in overview] == [0, 1] and overview[1]["judge_reward"] == pytest.approx(0.3)
    assert overview[1]["data.pos_gt_neg_share"] == 0.3333 and overview[1]["mean_tokens"] == 30.5  # 4 digits
    assert by_key["ui-demo-round-1-eval"].task_run_id in {t.id for t in task_runs if t.name == "evaluate round 1"}
    # the reused evaluation still reaches the adapter's model card (trained before it existed), under its final name
    card = (rounds.adapter_dir(config, 1) / "README.md").read_text()
    assert "## Evaluation" in card and "| mean_reward | 1.5 |" in card and "`round-001`" in card


def test_flow_parameters_override_the_config_and_only_rounds_may_change_a_run(prefect_api, finished_run, monkeypatch):
    config_path, config = finished_run
    assert set(rounds.neat_rounds.parameters.properties) == {"config_path", *KNOBS}
    assert set(rounds.generate_data.parameters.properties) == {"config_path", *KNOBS} - {"rounds"}
    form = rounds.neat_rounds.parameters.properties
    assert form["alpha"]["description"].startswith("train.alpha") and form["rounds"]["anyOf"][0]["type"] == "integer"

    changed = rounds.neat_rounds(str(config_path), alpha=0.5, return_state=True)  # train.alpha of an existing run
    assert changed.is_failed()
    with pytest.raises(NeatError, match=r"differs in: train\.alpha \(1\.0 -> 0\.5\); only `rounds` may change"):
        changed.result()

    calls = []
    monkeypatch.setattr(rounds, "run_stage", lambda args, launcher=None, capture=False: calls.append(args) or "")
    grown = rounds.neat_rounds(str(config_path), rounds=2, return_state=True)  # extending a run is allowed:
    assert grown.is_failed() and calls and {args[0] for args in calls} == {"generate"}  # it got to round 2
    assert calls[0][calls[0].index("--round") + 1] == "2"  # (the faked stage wrote nothing, so it stopped there)

    fresh = load_run_config(config_path, {"alpha": 0.5, "n": 3, "rounds": 4})
    assert (fresh.train["alpha"], fresh.train["beta"], fresh.generate["n"], fresh.rounds) == (0.5, 0.1, 3, 4)
    assert load_run_config(config_path).train["alpha"] == 1.0  # the file itself is unchanged
