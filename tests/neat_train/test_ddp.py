"""`neat train` under torchrun with 2 CPU processes (DDP over gloo): different data per rank, equal weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file


def test_two_process_ddp_on_cpu(scored_round, tiny_policy_dir, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        "-m",
        "flows.cli",
        "train",
        "--shards",
        str(scored_round),
        "--policy",
        str(tiny_policy_dir),
        "--out",
        str(out),
        "--max-steps",
        "3",
        "--batch-size",
        "1",
        "--response-micro-batch",
        "3",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 3
    hashes = result["weights_sha256_per_rank"]  # each rank hashed its own weights after training
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    seen = [
        [json.loads(ln)["query_ids"] for ln in (out / f"seen_queries.rank-{r}.jsonl").read_text().splitlines()]
        for r in (0, 1)
    ]
    assert len(seen[0]) == len(seen[1]) == 3
    flat0, flat1 = {q for step in seen[0] for q in step}, {q for step in seen[1] for q in step}
    assert flat0 and flat1 and not flat0 & flat1  # the ranks trained on different queries
    log = [json.loads(ln) for ln in (out / "train_log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2, 3]
    assert all(x["queries"] == 2 for x in log)  # counts are summed over both ranks
    weights = load_file(out / "adapter_model.safetensors")
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)  # it trained
