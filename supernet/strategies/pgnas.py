"""PGNAS: a posterior keep probability per (slot, op) learned by variational (concrete) dropout.

Every step runs the full mixture (every op of every slot that computes something) on the batch,
each op's output multiplied by a relaxed Bernoulli (concrete) mask drawn per example,
``m = sigmoid((logit + log u - log(1 - u)) / tau)`` with ``u ~ U(0, 1)``, so the mask's gradient
reaches the learnable keep logits. Loss per step:

    cross-entropy + kl * sum_(slot, op) KL(Bernoulli(p) || Bernoulli(prior)) + entropy * mean_slot H(q_slot)

with ``p = sigmoid(logit)`` the keep probabilities, ``prior`` the prior keep rate (the dropout-rate
prior of variational dropout) and ``q_slot`` the slot's keep probabilities normalised over its ops
(the distribution candidates are drawn from); a positive ``entropy`` weight sharpens it. The
network's weights follow the trainer's SGD; the logits have their own Adam (``logit_lr``).

Ops that compute nothing (NB201's ``none``) have no output to mask, so the data say nothing about
them: their keep probability stays at ``prior``. After training, ``nasgcn supernet posterior``
draws candidates with one op per slot, op ``o`` of slot ``s`` with probability ``p[s, o] /
sum_o p[s, o]``, and scores them with the shared weights (the paper's "sampled weights" are the
supernet's weights of the sampled path).

Cost: the relaxed forward computes every non-zero op of every slot, ``n_ops`` (NB201: 4; NB-Macro:
3; FBNet: 9) single-op forwards per slot per image, against about 1 for a single path (NB201's
uniform path: 0.77, as ``none`` computes nothing): a forward-cost multiplier of 5.2 on NB201, 3 on
NB-Macro and 9 on FBNet against uniform sampling. The trainer counts it (``compute_images`` in the
history = images x :meth:`path_cost`), so strategies can be compared at equal compute. Measured
wall time per step on one CPU thread (``benchmarks/pgnas_posterior.py``, digits, 6 epochs): NB201
C=8 N=1 0.20 s against 0.053 s for a uniform path (3.7x), NB-Macro width 0.25 0.31-0.41 s against
0.10-0.12 s (3x).

Measured effect (same benchmark, seed 0, 100 posterior draws against 100 uniform draws, each
scored by three supernets on 300 validation images; no stand-alone truth here):

* NB201: keep probabilities spread to 0.11-0.94; the posterior's samples score higher than
  uniform samples with every supernet: +9.1 points with the PGNAS supernet, +7.4 with a uniform
  one of the same epochs and +3.8 with a uniform one of the same compute (94.7 % against 90.9 %).
  So the posterior does concentrate on architectures other supernets also rate higher.
* NB-Macro: every op's keep probability rose (0.79-0.91; 0.67-0.89 with kl=0.05, entropy=0.1):
  all three blocks help a mixture, so the normalised posterior stayed almost uniform (entropy 1.097
  of 1.099 nats) and its samples scored like uniform ones (+0.5 to +1.6 points).
* Single-path scores of the PGNAS supernet suffer from the train/eval mismatch (a mixture in
  training, one op per slot in evaluation): on NB201 its uniform samples average 36 % against 55 %
  for a uniform supernet of the same epochs and 91 % for one of the same compute; on NB-Macro 60 %
  against 38 % (same epochs) and 87 % (same compute). At equal compute, score PGNAS's posterior
  draws with a supernet trained single-path, or use the draws as candidates only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from predictor.errors import NasgcnError

from ..samplers import ArchSampler, Path, SpaceLike, register_sampler, sampling_of

if TYPE_CHECKING:  # torch loads with the first sampler built, not with the registry (the CLI stays light)
    import torch


@register_sampler("pgnas")
class PgnasSampler(ArchSampler):
    """PGNAS: concrete-dropout masks on every op with learned keep probabilities (a posterior to sample)."""

    supports_fixed = False

    def __init__(
        self,
        seed: int = 0,
        tau: float = 0.5,
        prior: float = 0.5,
        init_keep: float = 0.5,
        kl: float = 0.01,
        entropy: float = 0.01,
        logit_lr: float = 0.03,
        space: SpaceLike = "nb201",
    ) -> None:
        super().__init__(seed, space)
        import torch

        for name, v in (("prior", prior), ("init_keep", init_keep)):
            if not 0.0 < v < 1.0:
                raise NasgcnError(f"pgnas: {name} must be in (0, 1), got {v}")
        if not tau > 0 or logit_lr <= 0 or kl < 0:
            raise NasgcnError(f"pgnas: tau and logit_lr must be positive and kl >= 0, got {tau}, {logit_lr}, {kl}")
        self.tau, self.prior, self.kl, self.entropy, self.logit_lr = float(tau), float(prior), kl, entropy, logit_lr
        self.zero_ops = list(sampling_of(self.space).zero_ops)
        self.live = np.ones(self.num_ops, dtype=bool)
        self.live[self.zero_ops] = False  # ops with an output to mask
        self.mask = np.tile(self.live, (self.num_slots, 1))  # the mixture every step runs
        self.logits = torch.nn.Parameter(
            torch.full((self.num_slots, self.num_ops), math.log(init_keep / (1 - init_keep)))
        )
        self.optimizer = torch.optim.Adam([self.logits], lr=logit_lr)
        self.gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + 17)
        self._live_t = torch.from_numpy(self.live)
        self._batch: int | None = None  # global batch size and this rank's offset in it (set by the trainer)
        self._offset = 0
        self._noise: torch.Tensor | None = None
        self._pos = 0

    def setup(self, trainer: Any) -> None:
        self.logits.data = self.logits.data.to(trainer.device)
        self._live_t = self._live_t.to(trainer.device)
        self._batch = int(trainer.config.batch_size)
        self._offset = trainer.dist.rank * (self._batch // trainer.dist.world_size)

    # -- training hooks ------------------------------------------------------------------
    def next_group(self, step: int = 0, total_steps: int = 1) -> list[Path]:
        if self._batch is not None:  # one noise draw per global batch: W ranks = W micro-batches, exactly
            self._noise = self._logistic(self._batch)
            self._pos = self._offset
        return [self.mask]

    def _logistic(self, batch: int) -> torch.Tensor:
        import torch

        u = torch.rand((self.num_slots, self.num_ops, batch), generator=self.gen).clamp_(1e-6, 1 - 1e-6)
        return (u.log() - (-u).log1p()).to(self.logits.device)

    def sample_weights(self, batch: int) -> torch.Tensor:
        """Concrete (relaxed Bernoulli) masks ``(slots, ops, batch)``, differentiable in the logits.

        In training, the noise of the examples comes from one draw per global batch, sliced by the
        examples' position in it, so data-parallel ranks and micro-batches see the masks of one run.
        """
        import torch

        if self._noise is not None and self._pos + batch <= self._noise.shape[-1]:
            noise = self._noise[:, :, self._pos : self._pos + batch]
            self._pos += batch
        else:
            noise = self._logistic(batch)
        return torch.sigmoid((self.logits.unsqueeze(-1) + noise) / self.tau)

    def forward(self, model: torch.nn.Module, x: torch.Tensor, path: Path) -> torch.Tensor:
        return model(x, path, op_weights=self.sample_weights(x.shape[0]))

    def parameters(self) -> list[torch.Tensor]:
        return [self.logits]

    def regularizer(self) -> torch.Tensor:
        import torch

        p = torch.sigmoid(self.logits)[:, self._live_t]
        p0 = self.prior
        kl = p * (torch.log(p + 1e-8) - math.log(p0)) + (1 - p) * (torch.log(1 - p + 1e-8) - math.log(1 - p0))
        q = p / p.sum(1, keepdim=True)
        ent = -(q * torch.log(q + 1e-8)).sum(1).mean()
        return self.kl * kl.sum() + self.entropy * ent

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.step()

    # -- the posterior -------------------------------------------------------------------
    def keep_probs(self) -> np.ndarray:
        """Keep probability per (slot, op); ops that compute nothing stay at the prior."""
        import torch

        p = torch.sigmoid(self.logits.detach()).cpu().double().numpy()
        p[:, ~self.live] = self.prior
        return p

    def op_probs(self) -> np.ndarray:
        p = self.keep_probs()
        return p / p.sum(1, keepdims=True)

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": "pgnas",
            "ops": list(self.space.ops),
            "slots": list(self.space.slot_names),
            "keep_probs": np.round(self.keep_probs(), 6).tolist(),
            "op_probs": np.round(self.op_probs(), 6).tolist(),
            "forward_cost": self.path_cost(self.mask),
        }

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:

        return {
            **super().state_dict(),
            "logits": self.logits.detach().cpu().clone(),
            "optimizer": self.optimizer.state_dict(),
            "gen": self.gen.get_state(),
        }

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.logits.data.copy_(state["logits"].to(self.logits.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["gen"])
