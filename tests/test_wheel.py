"""neat installed from its wheel, not from the checkout: build the wheel, install it into a fresh venv, run
``neat --help`` and a tiny ``neat score`` from another directory.

The fresh venv sees the test venv's site-packages through a ``.pth`` file, so torch and the other dependencies are
not installed again (``pip install --no-deps``); only ``neat`` itself comes from the wheel, and the test checks that
it is imported from the new venv, not from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "neat_data", "neat_train")


def copy_sources(dest: Path) -> None:
    """What the wheel is built from: the packages, pyproject.toml, the README and the data that ships."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for shipped in ("demo", "rm-sanity"):
        shutil.copytree(ROOT / "data" / shipped, dest / "data" / shipped, ignore=ignore)
    for delta in (ROOT / "data" / "models").glob("*-delta"):
        shutil.copytree(delta, dest / "data" / "models" / delta.name)
    (dest / "data" / "models" / "smollm2-135m-instruct").mkdir()  # a converted model must not ship
    (dest / "data" / "models" / "smollm2-135m-instruct" / "model.safetensors").write_bytes(b"x")


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{argv}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_wheel_installs_and_runs_from_another_directory(tmp_path, tiny_rm_dir):
    import zipfile

    src, wheels = tmp_path / "src", tmp_path / "wheels"
    copy_sources(src)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("neat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    checkout_modules = {
        p.relative_to(ROOT).as_posix()
        for name in PACKAGES
        for p in (ROOT / name).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert checkout_modules <= names, sorted(checkout_modules - names)  # every sub-package, e.g. generation/
    assert "neat_data/_shipped/demo/hh-demo.jsonl" in names
    assert "neat_data/_shipped/rm-sanity/sanity.jsonl" in names  # neat rm train reports on it when installed too
    deltas = {n.split("/")[3] for n in names if n.startswith("neat_data/_shipped/models/")}
    assert deltas == {p.name for p in (ROOT / "data" / "models").glob("*-delta")} and deltas
    assert not any("smollm2" in n for n in names)  # converted models and runs stay out of the wheel

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_test_venv_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., no neat
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)])

    elsewhere, home = tmp_path / "elsewhere", tmp_path / "home"
    elsewhere.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEAT_HOME", "NEAT_DATA_DIR", "XDG_CACHE_HOME")
    }
    env["HOME"] = str(home)
    probe = run(
        [
            str(python),
            "-c",
            "import flows, neat_data.models as m; print(flows.__file__); print(m.in_checkout()); "
            "print(m.data_root()); print(m.shipped_path(m.DEFAULT_RM_DELTA_DIR))",
        ],
        cwd=elsewhere,
        env=env,
    )
    module, in_checkout, data_root, delta = probe.stdout.split("\n")[:4]
    assert Path(module).is_relative_to(site) and in_checkout == "False"
    assert Path(data_root) == home / ".cache" / "neat"  # like ~/.cache/huggingface
    assert Path(delta).is_relative_to(site) and (Path(delta) / "adapter_config.json").is_file()

    usage = run([str(venv / "bin" / "neat"), "--help"], cwd=elsewhere, env=env).stdout
    assert "neat <command>" in usage and "score" in usage and "export" in usage

    demo = site / "neat_data" / "_shipped" / "demo" / "hh-demo.jsonl"
    run(
        [
            str(venv / "bin" / "neat"),
            "score",
            "--dataset",
            str(demo),
            "--limit",
            "4",
            "--rm",
            str(tiny_rm_dir),
            "--out",
            "runs/wheel",
            "--device",
            "cpu",
        ],
        cwd=elsewhere,
        env=env,
    )
    assert (elsewhere / "runs" / "wheel" / "round-000" / "_manifest.json").is_file()
    assert any((home / ".cache" / "neat" / "cache" / "scores").iterdir())  # the score cache: NEAT_HOME, not site
    written = [
        p
        for p in (site / "neat_data").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(site).as_posix() not in names
    ]
    assert written == []  # nothing is written into the installed package
