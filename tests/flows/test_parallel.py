"""A round's parts on a local Ray cluster (prefect-ray's ``RayTaskRunner``) with tiny models: one part's worker
process is killed with SIGKILL half-way, the flow re-runs the part, and the committed rounds are the one-part
rounds row for row (0 lost, 0 duplicated); the Ray instance the run started listens on 127.0.0.1 only.

The flow is ``neat-generate-data`` (score round 0, then generate round 1: both stages in 2 parts), run as its own
process with its own Prefect home and temporary local API, as ``neat run`` runs it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from flows.cli import main as neat
from neat_data.shards import load_manifest, read_round, round_dir

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "hh-demo.jsonl"
QUERIES = 12


def config_file(tmp_path: Path, policy: Path, rm: Path, parallel: dict) -> Path:
    config = {
        "name": "parts",
        "dataset": str(DEMO),
        "out": str(tmp_path / "run"),
        "policy": str(policy),
        "rm": str(rm),
        "data": {"limit": QUERIES},
        "score": {"rows_per_shard": 3, "batch_size": 4},
        "generate": {"max_new_tokens": 12, "n": 1, "batch_size": 2, "rows_per_shard": 1, "fluency_queries": 1},
        "parallel": parallel,
    }
    path = tmp_path / "parts.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_flow(config: Path, home: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a fresh PREFECT_HOME migrates its database first
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "NEAT_HOME": str(home / "neat"),
    }
    code = f"from flows.rounds import generate_data; generate_data({str(config)!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def holder(directory: Path, part: str) -> int | None:
    """The pid in a part's lock file (the process writing that part now), if any."""
    try:
        return json.loads((directory / f".neat-lock-{part}").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def listening(pid: int) -> list[str]:
    """The addresses the Ray processes under ``pid`` (the flow, which started the Ray instance) listen on."""
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            if "ray" in " ".join(proc.cmdline()) or proc.name() in ("gcs_server", "raylet"):
                found += [c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_two_ray_parts_with_a_killed_worker_give_the_one_part_rounds(tmp_path, tiny_policy_dir, tiny_rm_dir):
    pytest.importorskip("prefect_ray", reason="the [ray] extra (ray, prefect-ray) is in the dev extra: CI has it")
    config = config_file(tmp_path, tiny_policy_dir, tiny_rm_dir, {"backend": "ray", "parts": 2, "cpus_per_part": 1})
    round1 = round_dir(tmp_path / "run", 1)
    proc = start_flow(config, tmp_path / "home")
    # part 1 writes shards 0..5 of round 1 (12 queries, 1 per shard): kill its stage process after two of them
    deadline, killed, addresses = time.monotonic() + 240, None, []
    while killed is None:
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.monotonic() < deadline, "timed out waiting for part 1 of round 1 to be half-written"
        pid = holder(round1, "part-001-of-002")
        if pid and (round1 / "data" / "shard-00001.parquet").exists():
            # nothing slow between this check and the kill: on a loaded machine part 1 finished in that gap when the
            # Ray processes' sockets were listed here first
            assert not (round1 / "data" / "shard-00005.parquet").exists(), "part 1 finished before it could be killed"
            worker = psutil.Process(pid).parent()
            os.kill(pid, signal.SIGKILL)
            killed = {p: p.stat().st_mtime_ns for p in (round1 / "data").glob("shard-*.parquet")}
            assert "shard-00005.parquet" not in {p.name for p in killed}, "part 1 finished before the kill landed"
            assert worker.name().startswith("ray::") or "ray::" in " ".join(worker.cmdline())  # a Ray task ran it
            addresses = listening(proc.pid)  # the flow's Ray instance runs on: it retries the killed part
        time.sleep(0.005)
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, output[-4000:]
    assert addresses and all(ipaddress.ip_address(a.removeprefix("::ffff:")).is_loopback for a in addresses), addresses

    manifest = load_manifest(round1)
    part1 = manifest["extra"]["parts"]["parts"][0]
    assert part1["part"] == "1/2" and part1["shards_resumed"] >= len([p for p in killed if p.name <= "shard-00005"])
    for path, mtime in killed.items():  # what was written before the kill was kept, not redone
        assert path.stat().st_mtime_ns == mtime

    # the same stages in one process each
    assert (
        neat(
            [
                "score",
                "--dataset",
                str(DEMO),
                "--rm",
                str(tiny_rm_dir),
                "--out",
                str(tmp_path / "one"),
                "--limit",
                str(QUERIES),
                "--rows-per-shard",
                "3",
                "--batch-size",
                "4",
                "--cache-dir",
                str(tmp_path / "cache-one"),
            ]
        )
        == 0
    )
    os.environ["NEAT_HOME"] = str(tmp_path / "home-one")  # its own RM score cache
    try:
        assert (
            neat(
                [
                    "generate",
                    "--round",
                    "1",
                    "--policy",
                    str(tiny_policy_dir),
                    "--rm",
                    str(tiny_rm_dir),
                    "--from",
                    str(round_dir(tmp_path / "one", 0)),
                    "--out",
                    str(tmp_path / "one"),
                    "--max-new-tokens",
                    "12",
                    "--n",
                    "1",
                    "--batch-size",
                    "2",
                    "--rows-per-shard",
                    "1",
                    "--fluency-queries",
                    "1",
                ]
            )
            == 0
        )
    finally:
        del os.environ["NEAT_HOME"]
    for index in (0, 1):
        parts, one = read_round(round_dir(tmp_path / "run", index)), read_round(round_dir(tmp_path / "one", index))
        ids = [r["query_id"] for r in parts]
        assert len(ids) == len(set(ids)) == QUERIES  # 0 lost, 0 duplicated
        assert parts == one  # the same rows, responses, rewards and ranks
        assert load_manifest(round_dir(tmp_path / "run", index))["extra"]["parts"]["count"] == 2


def test_local_parts_run_side_by_side_and_commit_the_rounds(tmp_path, tiny_policy_dir, tiny_rm_dir):
    config = config_file(tmp_path, tiny_policy_dir, tiny_rm_dir, {"parts": 2})  # backend: local
    proc = start_flow(config, tmp_path / "home")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-4000:]
    for index in (0, 1):
        manifest = load_manifest(round_dir(tmp_path / "run", index))
        assert manifest["summary"]["queries"] == QUERIES
        assert [p["part"] for p in manifest["extra"]["parts"]["parts"]] == ["1/2", "2/2"]
    pids = {p["pid"] for p in load_manifest(round_dir(tmp_path / "run", 1))["extra"]["parts"]["parts"]}
    assert len(pids) == 2  # one process per part


def test_local_parts_get_their_own_gpus(monkeypatch):
    import torch

    from flows.rounds import _local_gpus
    from flows.run_config import ParallelConfig
    from neat_data.errors import NeatError

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert _local_gpus(ParallelConfig(parts=2)) == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]
    assert _local_gpus(ParallelConfig(parts=2, gpus_per_part=2)) == [
        {"CUDA_VISIBLE_DEVICES": "0,1"},
        {"CUDA_VISIBLE_DEVICES": "2,3"},
    ]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert _local_gpus(ParallelConfig(parts=2)) == [{"CUDA_VISIBLE_DEVICES": "5"}, {"CUDA_VISIBLE_DEVICES": "7"}]
    with pytest.raises(NeatError, match="need 3 GPUs; this machine has 2"):
        _local_gpus(ParallelConfig(parts=3))
    assert _local_gpus(ParallelConfig(parts=3, gpus_per_part=0)) == [{}, {}, {}]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert _local_gpus(ParallelConfig(parts=2)) == [{}, {}]  # a CPU machine


def test_ray_parts_reserve_a_gpu_each_where_the_cluster_has_gpus():
    """Each part's Ray task asks for ``num_gpus`` (so Ray places it on a GPU and sets its CUDA devices)."""
    from flows.rounds import _ray_resources
    from flows.run_config import ParallelConfig

    ray = ParallelConfig(backend="ray", parts=4)
    assert _ray_resources(ray, cluster_gpus=8) == {"num_cpus": 1, "num_gpus": 1}
    assert _ray_resources(ray, cluster_gpus=0) == {"num_cpus": 1, "num_gpus": 0}  # a CPU cluster (the Ray test)
    shared = ParallelConfig(backend="ray", parts=4, gpus_per_part=0.5, cpus_per_part=4)
    assert _ray_resources(shared, cluster_gpus=2) == {"num_cpus": 4, "num_gpus": 0.5}


@pytest.mark.parametrize(
    "parallel, message",
    [
        ({"backend": "spark"}, "parallel.backend: expected one of 'local', 'ray', got str 'spark'"),
        ({"parts": 0}, "parallel.parts: input should be greater than or equal to 1"),
        ({"parts": 2, "address": "auto"}, "only with backend: ray"),
        ({"backend": "ray", "address": "10.0.0.1:6379"}, "'auto' or 'ray://HOST:PORT'"),
        ({"parts": "two"}, "parallel.parts: expected int"),
        ({"workers": 2}, "parallel.workers: unknown key"),
    ],
)
def test_a_bad_parallel_section_is_refused(tmp_path, parallel, message, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({"name": "t", "dataset": str(DEMO), "out": str(tmp_path / "o"), "parallel": parallel})
    )
    assert neat(["run", "--config", str(path), "--check"]) == 2
    assert message in capsys.readouterr().err
