"""The NEAT loss (arXiv 2410.12194, eqs. 3-8) and the baselines it is compared with: SFT, RRHF and DPO.

Everything here works on per-response numbers, so it reads beside the paper:

* eqs. 3-4, the length-normalised log-probability of a response y to a query x::

      p(y|x) = (1/|y|) Σ_t log ρ(y_t | x, y_<t)                 (``response_stats(...).mean``)

  Only response tokens count: the query (prompt) tokens are masked out by the collator.
* eq. 5, L_sft = −p(y_best|x): the NLL of the best-reward response (``sft_loss``).
* eq. 6, L_rank = Σ_{r_i < r_j} max(0, p(y_i|x) − p(y_j|x)): RRHF's hinge over every ordered pair of the
  query's responses; ties (r_i = r_j) contribute nothing (``rank_loss``).
* eq. 7, L_pen = −p(y_worst|x): the NLL of the worst-reward response (``penalty``), subtracted in eq. 8::

      L = L_sft + α·L_rank − β·L_pen

  The paper's ``nll`` penalty is unbounded below (pushing log ρ → −∞ lowers L forever), so it is **guarded**:
  each token's log-prob is clamped at ``floor`` (default −5, ρ ≈ 0.7 %) before averaging, and a token already
  that unlikely gets no further push. The ``unlikelihood`` variant (Welleck et al. 2019) is bounded by
  construction: L_pen = (1/|y|) Σ_t log(1 − ρ_t) ≤ 0, i.e. −β·L_pen = β·(1/|y|) Σ_t −log(1 − ρ_t) ≥ 0 is the
  unlikelihood loss, whose gradient vanishes as ρ_t → 0. In both variants a larger L_pen means "the worst
  response is less likely", so the formula L = L_sft + α·L_rank − β·L_pen holds as written.

Baselines: ``sft`` is L_sft alone; ``rrhf`` is L_sft + α·L_rank (no penalty); ``dpo`` is
−log σ(β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]) on the best (w) and worst (l)
responses, with **summed** (not length-normalised) log-probs as in the DPO paper, and the reference π_ref being
the same network with its LoRA adapter disabled.

Per batch, each term is the mean over the queries it applies to. A query with fewer than two responses has no
pair: it is counted (``single_response``) and skipped for the rank, penalty and DPO terms, and still used for
L_sft. A query whose responses all have the same reward has no worst response distinct from the best: it is
counted (``tied``) and skipped for the penalty and DPO terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LOSSES = ("neat", "rrhf", "sft", "dpo")
PENALTIES = ("nll", "unlikelihood")


@dataclass
class LossConfig:
    loss: str = "neat"
    alpha: float = 1.0  # weight of L_rank (neat, rrhf)
    beta: float = 0.1  # weight of L_pen (neat), or DPO's inverse temperature β (dpo)
    penalty: str = "nll"  # nll (guarded by floor) | unlikelihood
    floor: float = -5.0  # per-token log-prob floor of the nll penalty

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {', '.join(PENALTIES)}, got {self.penalty!r}")
        if self.floor >= 0:
            raise ValueError(f"the log-prob floor must be negative, got {self.floor}")

    @property
    def responses_used(self) -> str:
        """Which responses of a query the loss reads: all of them (neat, rrhf) or only best / worst."""
        return {"sft": "best", "dpo": "best_worst"}.get(self.loss, "all")


# ---------------------------------------------------------------- eqs. 3-4: per-token and per-response log-probs


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor):
    """log ρ(y_t | x, y_<t) of every response token (``loss_mask`` 1), as (values [T], response row [T]).

    The logits at position t predict token t+1; only the positions of response tokens are normalised, so the
    (large) log-softmax over the vocabulary is never taken for query or padding positions.
    """
    rows, cols = loss_mask[:, 1:].bool().nonzero(as_tuple=True)
    picked = logits[:, :-1][rows, cols].float()  # [T, vocab]
    targets = input_ids[:, 1:][rows, cols]
    return picked.log_softmax(-1).gather(-1, targets[:, None])[:, 0], rows


def log1mexp(logp: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(logp)) for logp < 0, numerically stable (Mächler 2012); clamped just below 0."""
    logp = logp.clamp(max=-1e-6)
    return torch.where(logp > -0.6931, torch.log(-torch.expm1(logp)), torch.log1p(-torch.exp(logp)))


@dataclass
class ResponseStats:
    """Per-response quantities every loss is written in terms of (one entry per response)."""

    mean: torch.Tensor  # p(y|x), eqs. 3-4
    sum: torch.Tensor  # Σ_t log ρ (DPO)
    pen: torch.Tensor  # L_pen of the response if it were the worst (eq. 7 or unlikelihood)
    tokens: torch.Tensor  # |y|

    @staticmethod
    def cat(parts: list[ResponseStats]) -> ResponseStats:
        return ResponseStats(*(torch.cat([getattr(p, k) for p in parts]) for k in ("mean", "sum", "pen", "tokens")))


def response_stats(token_logp: torch.Tensor, rows: torch.Tensor, n: int, cfg: LossConfig) -> ResponseStats:
    """Aggregate token log-probs into per-response mean / sum / penalty (``n`` responses)."""
    tokens = torch.bincount(rows, minlength=n).to(token_logp.dtype)
    per_token_pen = -token_logp.clamp(min=cfg.floor) if cfg.penalty == "nll" else log1mexp(token_logp)
    zeros = token_logp.new_zeros(n)
    total = zeros.index_add(0, rows, token_logp)
    count = tokens.clamp(min=1)
    return ResponseStats(total / count, total, zeros.index_add(0, rows, per_token_pen) / count, tokens)


# ---------------------------------------------------------------- eqs. 5-8 and the baselines, per query


def sft_loss(best_mean_logp: torch.Tensor) -> torch.Tensor:
    """Eq. 5: NLL (per token) of the best-reward response."""
    return -best_mean_logp


def rank_loss(mean_logp: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Eq. 6 (RRHF): Σ over pairs with r_i < r_j of max(0, p_i − p_j). Ties contribute nothing."""
    worse = rewards[:, None] < rewards[None, :]  # worse[i, j]: y_i has lower reward than y_j
    return ((mean_logp[:, None] - mean_logp[None, :]).clamp(min=0) * worse).sum()


def dpo_loss(pi_w, pi_l, ref_w, ref_l, beta: float) -> torch.Tensor:
    """DPO on summed log-probs of the preferred (w) and dispreferred (l) response."""
    return -F.logsigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l)))


@dataclass
class LossTerms:
    total: torch.Tensor
    sft: torch.Tensor
    rank: torch.Tensor
    pen: torch.Tensor
    dpo: torch.Tensor
    counts: dict = field(default_factory=dict)  # queries, single_response, tied

    def log_values(self) -> dict:
        return {
            "loss": self.total.item(),
            "loss_sft": self.sft.item(),
            "loss_rank": self.rank.item(),
            "loss_pen": self.pen.item(),
            "loss_dpo": self.dpo.item(),
        }


def _mean(values: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(values).mean() if values else like.sum() * 0  # 0, still connected to the graph


def batch_loss(
    stats: ResponseStats,
    rewards: torch.Tensor,
    query_index: torch.Tensor,
    n_queries: int,
    cfg: LossConfig,
    ref_sum: torch.Tensor | None = None,
) -> LossTerms:
    """The configured loss over a batch of queries; response i belongs to query ``query_index[i]``.

    ``ref_sum`` (summed log-probs under the reference model) is needed for ``dpo`` only.
    """
    sft, rank, pen, dpo = [], [], [], []
    single = tied = 0
    for q in range(n_queries):
        idx = (query_index == q).nonzero(as_tuple=True)[0]
        r = rewards[idx]
        best, worst = idx[torch.argmax(r)], idx[torch.argmin(r)]
        sft.append(sft_loss(stats.mean[best]))
        if len(idx) < 2:
            single += 1
            continue
        rank.append(rank_loss(stats.mean[idx], r))
        if r.max() == r.min():
            tied += 1
            continue
        pen.append(stats.pen[worst])
        if cfg.loss == "dpo":
            dpo.append(dpo_loss(stats.sum[best], stats.sum[worst], ref_sum[best], ref_sum[worst], cfg.beta))
    like = stats.mean
    sft, rank, pen, dpo = _mean(sft, like), _mean(rank, like), _mean(pen, like), _mean(dpo, like)
    total = {
        "sft": sft,
        "rrhf": sft + cfg.alpha * rank,
        "neat": sft + cfg.alpha * rank - cfg.beta * pen,  # eq. 8
        "dpo": dpo,
    }[cfg.loss]
    return LossTerms(total, sft, rank, pen, dpo, {"queries": n_queries, "single_response": single, "tied": tied})
