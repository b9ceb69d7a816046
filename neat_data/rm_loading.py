"""Loading and checking a reward model: a one-output ``AutoModelForSequenceClassification`` with its own tokenizer,
local or from the hub, safetensors only, no remote code. ``check_rm`` reads only the config and file names, so a
command can refuse a wrong RM before hours of work; ``load_rm`` loads it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import NeatError

# a model directory holding none of them has no tokenizer
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)
TOKENIZER_ADVICE = "an RM is scored with its own tokenizer, so save it next to the weights (tokenizer.save_pretrained)"


def _hub_snapshot(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"]))
    except Exception as e:
        raise NeatError(
            f"reward model {name!r} is neither a local model directory nor loadable from the hub ({e}). Pass a "
            "directory holding config.json, *.safetensors and the tokenizer, or 'default' for the embedded RM"
        ) from e


def check_rm(name: str, flag: str = "--rm") -> Path:
    """The model directory of a one-output sequence-classification RM, or a NeatError saying what is wrong
    with it; reads its config and file names only (no weights), so a command checks its RMs before hours of work."""
    from .models import hub_id_or_path, model_config, require_safetensors

    path = hub_id_or_path(name, flag)
    if not isinstance(path, Path):
        path = _hub_snapshot(name)
    if not (path / "config.json").is_file():
        raise NeatError(
            f"reward model {name!r}: {path} has no config.json, so it is not a Hugging Face model directory; "
            "pass a directory saved with save_pretrained (config.json + *.safetensors + tokenizer)"
        )
    config = model_config(path, f"reward model {name!r}", "AutoModelForSequenceClassification")
    heads = [a for a in (config.architectures or []) if a.endswith(("ForCausalLM", "LMHeadModel"))]
    if heads and not any(a.endswith("ForSequenceClassification") for a in config.architectures):
        raise NeatError(
            f"reward model {name!r} is a causal LM ({heads[0]}), not a reward model: {flag} needs a sequence-"
            "classification model with one output (num_labels=1), e.g. the embedded 'default' or one trained with "
            "neat rm train; a causal LM is what --policy takes"
        )
    if config.num_labels != 1:
        raise NeatError(
            f"reward model {name!r} has {config.num_labels} output labels; a reward model must output one score "
            "(num_labels=1). A classifier is not a reward model: use a reward model, or train one with neat rm train"
        )
    if not any((path / f).is_file() for f in TOKENIZER_FILES):  # transformers 5 would build an empty tokenizer
        raise NeatError(
            f"reward model {name!r}: could not load its tokenizer: {path} has none of "
            f"{', '.join(TOKENIZER_FILES)}; {TOKENIZER_ADVICE}"
        )
    require_safetensors(path, flag)
    return path


def load_rm(name: str, *, device="auto", dtype="float32", flag: str = "--rm"):
    """(model in eval mode, tokenizer, model directory) of a one-output sequence-classification RM."""
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import resolve_device, resolve_dtype

    path = check_rm(name, flag)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except Exception as e:
        raise NeatError(
            f"reward model {name!r}: could not load its tokenizer from {path} ({type(e).__name__}: {e}); "
            f"{TOKENIZER_ADVICE}"
        ) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=resolve_dtype(dtype), use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # corrupt weights, shapes that do not fit
        raise NeatError(f"reward model {name!r}: could not load its weights from {path} ({e})") from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(resolve_device(device)).eval()
    return model, tokenizer, path
