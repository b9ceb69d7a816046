"""Picking the next token of every row of a decoding batch: greedy, temperature and nucleus (top-p) sampling,
each row from its own random stream, and guided rows (negative guidance) with their reference rows.

Sampling draws **one** uniform number per row and step and inverts the cumulative distribution
(``searchsorted``), which is the same categorical distribution as ``torch.multinomial`` but far cheaper on CPU:
multinomial draws one exponential per vocabulary entry (32 x 49 152 of them per step for SmolLM2 at batch 32).
The uniforms of a row come from a generator seeded with that row's own seed (on the CPU, so they are the same on
any device), so what a row samples does not depend on the other rows of its batch.
"""

from __future__ import annotations

import torch


def nucleus_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to -inf every token outside the smallest set whose probability reaches ``top_p`` (at least one
    token is always kept). ``logits``: [rows, vocab], already divided by the temperature."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # probability mass of the tokens ranked above each token
    sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))  # the top token has before == 0
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, uniforms: torch.Tensor | None) -> torch.Tensor:
    """The next token id of every row of ``logits`` [rows, vocab]: argmax when ``temperature`` is 0, else a
    draw from softmax(logits / temperature) restricted to the top-p nucleus, made with row r's number
    ``uniforms[r]`` in [0, 1)."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() if temperature == 1 else logits.float() / temperature
    cdf = nucleus_filter(logits, top_p).softmax(-1).cumsum(-1)
    u = uniforms.to(cdf.dtype)[:, None] * cdf[:, -1:]
    # the first token whose cumulative probability exceeds u; tokens of probability 0 are never picked
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=cdf.shape[-1] - 1)


def row_uniforms(seeds: list[int | None], steps: int) -> torch.Tensor:
    """[rows, steps] uniform numbers: row r's from a CPU generator seeded with ``seeds[r]`` (zeros for None)."""
    return torch.stack(
        [
            torch.zeros(steps) if s is None else torch.rand(steps, generator=torch.Generator().manual_seed(s))
            for s in seeds
        ]
    )


def guide(logits: torch.Tensor, reference: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Negative guidance: ``logits + w * (logits - reference)`` per row (``weight`` [rows]), in float32."""
    logits = logits.float()
    return logits + weight[:, None] * (logits - reference.float())


class RowSampler:
    """Each decoding step's next token of every row of a batch.

    A *sampling* row draws from its own uniforms (``seeds``); if its ``weight`` is > 0 it samples from
    :func:`guide` of its logits and its ``reference`` row's logits. A *reference* row (``leader`` another row) never
    samples: it takes the token its leader drew, so its context always continues with the same generated prefix.
    ``select`` drops rows (a sampling row and its reference rows finish together: they hold the same tokens).
    """

    def __init__(self, seeds, leader, reference, weight, temperature: float, top_p: float, steps: int, device):
        self.leader = torch.tensor(leader, device=device)
        self.reference = torch.tensor(reference, device=device)
        self.weight = torch.tensor(weight, dtype=torch.float32, device=device)
        self.uniforms = row_uniforms(seeds, steps).to(device)
        self.temperature, self.top_p = temperature, top_p
        self._index()

    def _index(self) -> None:
        rows = torch.arange(len(self.leader), device=self.leader.device)
        self.samplers = (self.leader == rows).nonzero().squeeze(1)
        slot = torch.full_like(rows, -1)
        slot[self.samplers] = torch.arange(len(self.samplers), device=rows.device)
        self.slot = slot[self.leader]  # for every row, the position of its sampling row among the samplers
        self.guided = (self.weight[self.samplers] > 0).nonzero().squeeze(1)  # positions among the samplers

    def __call__(self, logits: torch.Tensor, step: int) -> torch.Tensor:
        x = logits[self.samplers]
        if len(self.guided):
            rows = self.samplers[self.guided]
            x = x.float()
            x[self.guided] = guide(x[self.guided], logits[self.reference[rows]], self.weight[rows])
        picked = sample_next(x, self.temperature, self.top_p, self.uniforms[self.samplers, step])
        return picked[self.slot]

    def select(self, keep: torch.Tensor) -> None:
        position = torch.full_like(self.leader, -1)
        position[keep] = torch.arange(len(keep), device=keep.device)
        self.leader, self.reference = position[self.leader[keep]], position[self.reference[keep]]
        self.weight, self.uniforms = self.weight[keep], self.uniforms[keep]
        self._index()
