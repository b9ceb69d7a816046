"""A round's outputs as small tables: the Prefect artifacts of the rounds flow and the model card of an adapter.

Everything is read from the files the stages write (a round's manifest, an adapter directory, an evaluation JSON,
report.json), and keys are read generically: a number a newer stage adds (say ``judge.mean_reward`` in an
evaluation or ``fluency`` in a manifest summary) shows up here without a change.
"""

from __future__ import annotations

import json
from pathlib import Path

from neat_data.atomic import atomic_write_bytes
from neat_data.models import portable_policy_id

from . import TRAIN_LOG

#: per-source statistics, shown as their own table (reward) or not at all (counts of the same)
_PER_SOURCE = ("reward", "responses_by_source")
MODEL_CARD = "README.md"


def flatten_numbers(values: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested dict, keyed by dotted path: ``{"judge": {"mean": 1}}`` -> ``{"judge.mean": 1}``."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def readable(value):
    """A float to 4 significant digits (a table cell), anything else as it is."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def metric_rows(numbers: dict[str, float]) -> list[dict]:
    return [{"metric": k, "value": readable(v)} for k, v in numbers.items()]


def fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def round_data(manifest: dict) -> dict:
    """A round's data: reward by source (rows); the summary's other numbers (all of the round's responses); the
    separation report of ``neat generate`` (its new samples: pos_gt_neg_share, by the judge, fluency, ...) as
    ``separation.*``; the efficacy warning."""
    summary = manifest["summary"]
    separation = manifest.get("extra", {}).get("efficacy") or {}
    return {
        "round": manifest["round"],
        "reward_by_source": [
            {
                "source": source,
                "responses": s["count"],
                "mean": s["mean"],
                "std": s["std"],
                "min": s["min"],
                "max": s["max"],
            }
            for source, s in summary.get("reward", {}).items()
        ],
        "numbers": flatten_numbers(
            {
                **{k: v for k, v in summary.items() if k not in _PER_SOURCE},
                "separation": {k: v for k, v in separation.items() if k not in _PER_SOURCE},
            }
        ),
        "warning": separation.get("warning"),
    }


def data_markdown(data: dict) -> str:
    """``round_data`` as markdown: the warning first, then reward by source and the other numbers."""
    lines = [f"## Round {data['round']}: data", ""]
    if data["warning"]:
        lines += [
            f"> **WARNING — the negative prompt gives NEAT little signal:** {data['warning']} (docs/generation.md).",
            "",
        ]
    lines += [
        "### Reward by source",
        "",
        markdown_table(data["reward_by_source"]),
        "",
        "### Separation, fluency and counts (`separation.*`: the round's new samples)",
        "",
        markdown_table(metric_rows(data["numbers"])),
        "",
    ]
    return "\n".join(lines)


def training_markdown(adapter_dir: str | Path, index: int) -> str:
    trained = training(adapter_dir)
    return "\n".join(
        [
            f"## Round {index}: training",
            "",
            f"{trained['steps']} optimizer steps.",
            "",
            "### Losses over the steps",
            "",
            markdown_table(trained["losses"]),
            "",
            "### Result",
            "",
            markdown_table(metric_rows(trained["result"])),
            "",
        ]
    )


def training(adapter_dir: str | Path) -> dict:
    """Per loss term of ``train_log.jsonl``: first, last, mean and min over the steps; plus result.json's numbers."""
    adapter_dir = Path(adapter_dir)
    log = [json.loads(line) for line in (adapter_dir / TRAIN_LOG).read_text().splitlines() if line.strip()]
    terms = sorted({k for entry in log for k in entry if k.startswith("loss")}, key=lambda k: (k != "loss", k))
    rows = []
    for term in terms:
        values = [entry[term] for entry in log if entry.get(term) is not None]
        if values:
            rows.append(
                {
                    "term": term,
                    "first": values[0],
                    "last": values[-1],
                    "mean": sum(values) / len(values),
                    "min": min(values),
                }
            )
    result_path = adapter_dir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    return {"steps": len(log), "losses": rows, "result": flatten_numbers(result)}


def evaluation(eval_json: dict) -> list[dict]:
    """Every number of an evaluation (``neat eval --json``), nested ones by dotted name, as metric/value rows."""
    return metric_rows(flatten_numbers({k: v for k, v in eval_json.items() if k != "round"}))


def rounds_overview(report: dict) -> list[dict]:
    """One row per round of report.json: its held-out numbers compared across rounds (reward, judge, length,
    length-controlled reward, win rates), then its training data (counts, separation, mean reward by source, as
    ``data.*``); a number a round lacks is left blank."""
    rows = []
    for entry in report["rounds"]:
        data = {k: v for k, v in (entry.get("training_data") or {}).items() if k != "path"}
        heldout = {k: v for k, v in (entry.get("heldout") or {}).items() if k != "round"}
        rows.append({"round": entry["round"], **flatten_numbers(heldout), **flatten_numbers({"data": data})})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{c: readable(row.get(c, "")) for c in columns} for row in rows]


def model_card(adapter_dir: str | Path, evaluation_json: dict | None = None) -> str:
    """The adapter's README.md: base model, the data rounds with their manifest hashes, loss, α/β, training, and the
    evaluation when one is known."""
    adapter_dir = Path(adapter_dir)
    identity = json.loads((adapter_dir / "train_config.json").read_text())["identity"]
    config = identity["config"]
    base = portable_policy_id(config["policy"])
    data = json.loads((adapter_dir / "data.json").read_text())
    trained = training(adapter_dir)
    hub_base = f"base_model: {base}\n" if not base.startswith(("neat:", "/")) else ""
    lora = config["method"] == "lora"
    lines = [
        "---",
        f"{hub_base}library_name: {'peft' if lora else 'transformers'}",
        f"tags: [neat, {'lora, ' if lora else ''}alignment]",
        "---",
        "",
        f"# NEAT {'adapter' if lora else 'model'} `{adapter_dir.name}`",
        "",
        f"Trained by `neat train` (NEAT, arXiv 2410.12194) with the `{config['loss']}` loss on the base model "
        f"`{base}`"
        + (
            " (the embedded SmolLM2-135M-Instruct; load it with neat: "
            "`neat_data.models.load_policy('neat:default-policy', adapter=DIR)`)"
            if base.startswith("neat:")
            else ""
        )
        + ".",
        "",
        "## Training data",
        "",
        markdown_table(
            [{"round": r["round"], "path": r["path"], "manifest_sha256": r["manifest_sha256"]} for r in data["rounds"]]
        ),
        "",
        f"{data['queries']} queries trained on ({data['held_out']} held out: the test split, never trained on).",
        "",
        "## Loss",
        "",
        markdown_table(
            [{k: config[k] for k in "loss alpha beta penalty method lora_r lora_alpha learning_rate seed".split()}]
        ),
        "",
        f"{trained['steps']} optimizer steps.",
        "",
        markdown_table(trained["losses"]),
        "",
    ]
    if evaluation_json:
        lines += ["## Evaluation (held-out queries, `neat eval`)", "", markdown_table(evaluation(evaluation_json)), ""]
    return "\n".join(lines)


def write_model_card(adapter_dir: str | Path, evaluation_json: dict | None = None) -> Path:
    return atomic_write_bytes(Path(adapter_dir) / MODEL_CARD, model_card(adapter_dir, evaluation_json).encode())
