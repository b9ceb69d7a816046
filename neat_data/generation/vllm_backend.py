"""The GPU generation backend: vLLM's ``LLM`` + ``SamplingParams``, the round's LoRA adapter via ``LoRARequest``.

The engine lives in a child process (multiprocessing *spawn*) for the backend's whole life: ``close()`` ends the
process, which is the only reliable way to give its GPU memory back before training starts (vLLM issue 1908).
vLLM is imported only inside that process, so ``neat`` works without the optional ``vllm`` extra.

Prompts are rendered and left-truncated in the parent with the policy's Hugging Face tokenizer (the same code as
the transformers backend) and sent to vLLM as token ids, so both backends see exactly the same prompts; the sampled
token ids come back and are decoded in the parent by the same code too. Each sample is its own request with its own
``SamplingParams(seed=...)`` (one per sample, from :func:`~neat_data.generation.base.sample_seed`), so every response
draws from its own random stream. The round's adapter is not merged into the policy: the engine loads it
(``enable_lora``, ``max_lora_rank`` from the adapter's own rank, rounded up to a rank vLLM serves) and every sampling
request carries its ``LoRARequest``; fluency (the base policy's token log-probs) uses ``prompt_logprobs`` without it.

Negative guidance is refused: it needs, at every step, the logits of a second context (the reference prompt) that
follows the tokens sampled under the first, and vLLM's logits processors only transform a request's own logits
row (they cannot run the model on another context or make another request follow this one's tokens).
"""

from __future__ import annotations

import json
import multiprocessing
import traceback
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

from ..errors import NeatError
from .base import GenerationBackend, Rendered, SamplingConfig

#: What the engine process needs from vLLM; tests inject a fake one through ``engine_factory``.
VllmApi = namedtuple("VllmApi", "LLM SamplingParams LoRARequest")

LORA_NAME, LORA_ID = "neat-round-adapter", 1
#: the values vLLM accepts for ``max_lora_rank`` (``vllm.config.lora.MaxLoRARanks``)
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
GUIDANCE_UNSUPPORTED = (
    "--negative-guidance needs the logits of a second context (the reference prompt) at every step, which vLLM's "
    "logits processors cannot provide; use --backend transformers for guided negatives, or --negative-guidance 0"
)


def vllm_api() -> VllmApi:
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as e:
        raise NeatError(
            f"the vllm backend needs vLLM ({e}); install it with `pip install 'neat[vllm]'` on a CUDA machine, "
            "or use --backend transformers"
        ) from e
    return VllmApi(LLM, SamplingParams, LoRARequest)


def lora_rank(adapter_dir: Path, max_lora_rank: int | None = None) -> int:
    """The engine's ``max_lora_rank`` for a peft adapter: the adapter's largest rank (``r``, or a larger one in its
    ``rank_pattern``) rounded up to a rank vLLM accepts; ``max_lora_rank``, if given, must hold it."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    rank = max([int(config.get("r") or 8), *map(int, (config.get("rank_pattern") or {}).values())])
    if max_lora_rank is not None:
        if max_lora_rank < rank:
            raise NeatError(f"max_lora_rank {max_lora_rank} is below the adapter's rank {rank} ({adapter_dir})")
        rank = max_lora_rank
    fitting = [r for r in VLLM_LORA_RANKS if r >= rank]
    if not fitting:
        raise NeatError(
            f"--adapter {adapter_dir}: rank {rank} is above the largest LoRA rank vLLM serves "
            f"({VLLM_LORA_RANKS[-1]}); train with a smaller r or use --backend transformers"
        )
    return fitting[0]


def _run_engine(api: VllmApi, llm, request: dict) -> list:
    """Sampling: the token ids of each prompt's one sample (each prompt has its own ``SamplingParams``, hence its
    own seed). Log-probs: each prompt's token log-probs from ``start`` on, under the base model (no LoRA)."""
    prompts = [{"prompt_token_ids": ids} for ids in request["prompts"]]
    if request["kind"] == "logprobs":
        params = api.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = llm.generate(prompts, params, use_tqdm=False)
        return [
            [out.prompt_logprobs[k][ids[k]].logprob for k in range(start, len(ids))]
            for out, ids, start in zip(outputs, request["prompts"], request["starts"])
        ]
    params = [api.SamplingParams(**request["sampling"], seed=seed) for seed in request["seeds"]]
    lora = api.LoRARequest(*request["lora"]) if request["lora"] else None
    outputs = llm.generate(prompts, params, lora_request=lora, use_tqdm=False)
    return [list(out.outputs[0].token_ids) for out in outputs]


def _engine_process(conn, engine_factory, engine_kwargs: dict) -> None:
    """Child process: build the engine once, then answer generate requests until told to stop (None)."""
    try:
        api = engine_factory() if engine_factory is not None else vllm_api()
        llm = api.LLM(**engine_kwargs)
        conn.send(("ready", None))
    except BaseException as e:  # report, do not hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        return
    while True:
        request = conn.recv()
        if request is None:
            break
        try:
            conn.send(("ok", _run_engine(api, llm, request)))
        except BaseException as e:
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    conn.close()


class VllmBackend(GenerationBackend):
    def __init__(
        self,
        policy: str,
        *,
        adapter: str | None = None,
        dtype: str = "float32",
        device: str = "auto",
        batch_size: int = 8,
        chat_template: str | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.6,
        max_lora_rank: int | None = None,
        engine_factory: Callable[[], VllmApi] | None = None,
        in_process: bool = False,
    ):
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        from ..models import resolve_policy

        if device not in ("auto", "cuda"):
            raise NeatError(f"the vllm backend runs on CUDA GPUs; --device {device} needs --backend transformers")
        path = str(resolve_policy(policy))
        try:
            gen_config = GenerationConfig.from_pretrained(path)
        except OSError:
            gen_config = None
        tokenizer, model_config = AutoTokenizer.from_pretrained(path), AutoConfig.from_pretrained(path)
        self._set_up_text(tokenizer, model_config, gen_config, policy, adapter, chat_template)
        self.lora = None
        if adapter is not None:
            adapter_dir = Path(adapter)
            if not (adapter_dir / "adapter_config.json").is_file():
                raise NeatError(f"--adapter {adapter}: no adapter_config.json there; pass a peft LoRA adapter dir")
            max_lora_rank = lora_rank(adapter_dir, max_lora_rank)
            self.lora = (LORA_NAME, LORA_ID, str(adapter_dir.resolve()))
        # batch_size is not an engine setting: vLLM schedules its own batches (continuous batching).
        self.engine_kwargs = {
            "model": path,
            "tokenizer": path,
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": self.context,
            "trust_remote_code": False,
            "load_format": "safetensors",  # vLLM's default "auto" falls back to pickled .bin/.pt weights
            "enable_lora": self.lora is not None,
            **({"max_lora_rank": max_lora_rank} if self.lora else {}),
        }
        self._factory = engine_factory
        self._in_process = in_process
        self._start()

    def _start(self) -> None:
        if self._in_process:  # tests and debugging only: GPU memory is then not freed by close()
            self._api = self._factory() if self._factory is not None else vllm_api()
            self._llm = self._api.LLM(**self.engine_kwargs)
            return
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_engine_process, args=(child, self._factory, self.engine_kwargs), daemon=True)
        self._proc.start()
        child.close()
        self._receive()  # "ready", or the engine's start-up error

    def _receive(self):
        try:
            status, payload = self._conn.recv()
        except EOFError:
            self._proc.join(timeout=5)
            raise RuntimeError(f"the vLLM engine process died (exit code {self._proc.exitcode})") from None
        if status == "error":
            raise RuntimeError(f"the vLLM engine process failed: {payload}")
        return payload

    guidance_refusal = GUIDANCE_UNSUPPORTED

    def _ask(self, request: dict):
        if self._in_process:
            return _run_engine(self._api, self._llm, request)
        self._conn.send(request)
        return self._receive()

    def _sample(self, requests: list[Rendered], sampling: SamplingConfig):
        """All requests at once (vLLM schedules its own batches): one engine request per sample."""
        prompts = [r.ids for r in requests for _ in r.seeds]
        seeds = [seed for r in requests for seed in r.seeds]
        tokens = self._ask(
            {
                "kind": "sample",
                "prompts": prompts,
                "seeds": seeds,
                "sampling": {
                    "n": 1,
                    "temperature": sampling.temperature,
                    "top_p": sampling.top_p,
                    "top_k": -1,
                    "max_tokens": sampling.max_new_tokens,
                    "stop_token_ids": self.stop_ids,
                    "skip_special_tokens": True,
                },
                "lora": self.lora,
            }
        )
        n = sampling.n
        yield list(range(len(requests))), [tokens[i * n : (i + 1) * n] for i in range(len(requests))]

    def _token_logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        return self._ask({"kind": "logprobs", "prompts": sequences, "starts": starts})

    def close(self) -> None:
        if self._in_process:
            self._llm = None
            return
        if getattr(self, "_proc", None) is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=60)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join()
        self._proc = None
