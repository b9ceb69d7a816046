"""Resuming after a kill while the Trainer was saving a checkpoint (found by the flows' kill -9 test)."""

import json

from neat_train.resume import last_complete_checkpoint
from neat_train.trainer import keep_steps


def test_an_unfinished_checkpoint_is_removed_and_the_previous_one_used(tmp_path):
    for step, state in ((2, {"global_step": 2}), (10, {"global_step": 10})):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "checkpoint-11").mkdir()  # killed before trainer_state.json
    (tmp_path / "checkpoint-12").mkdir()
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # killed mid-write
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-2"]
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_log_lines_after_the_checkpoint_and_a_cut_off_line_are_dropped(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "lo')
    keep_steps(log, 2)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]
