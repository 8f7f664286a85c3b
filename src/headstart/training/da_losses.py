"""Domain-adaptation losses as small ``nn.Module``s (after tllib, Jiang et al., "Transfer-Learning-Library").

* :class:`GradientReverse`: identity forward, gradient times ``-coeff`` backward (Ganin & Lempitsky 2015), with
  the warm-start schedule ``coeff(p) = 2 / (1 + exp(-alpha p)) - 1``, ``p = step / max_steps`` in [0, 1]. The
  step counter is a persistent buffer, so it is saved in checkpoints and a resumed run continues the schedule.
* :class:`DomainAdversarialLoss` (DANN): a discriminator on features behind the gradient reversal.
* :class:`ConditionalDomainAdversarialLoss` (CDAN, Long et al. 2018): the discriminator sees the multilinear
  map ``f (x) softmax(g)`` (randomized when ``dim * K`` is large), optionally entropy-weighted.
* :class:`ConfidencePseudoLabelLoss`: self-training on target rows whose top probability reaches a threshold.

Discriminators return logits (BCE with logits, numerically safe under mixed precision) and use dropout instead
of BatchNorm, so a batch holding a single row of one domain still trains.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ConditionalDomainAdversarialLoss",
    "ConfidencePseudoLabelLoss",
    "DomainAdversarialLoss",
    "DomainDiscriminator",
    "GradientReverse",
    "grl_coefficient",
    "reverse_gradient",
]

RANDOMIZED_ABOVE = 4096  # CDAN: use the randomized multilinear map when dim * K exceeds this
RANDOMIZED_DIM = 1024


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, coeff: float) -> Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad.neg() * ctx.coeff, None


def reverse_gradient(x: Tensor, coeff: float = 1.0) -> Tensor:
    """``y = x`` forward; ``dL/dx = -coeff * dL/dy`` backward."""
    return _ReverseGrad.apply(x, float(coeff))  # type: ignore[no-any-return]


def grl_coefficient(progress: float, alpha: float = 10.0) -> float:
    """DANN's schedule ``lambda(p) = 2 / (1 + exp(-alpha p)) - 1``: 0 at the start, -> 1 at the end."""
    p = min(1.0, max(0.0, float(progress)))
    return 2.0 / (1.0 + math.exp(-alpha * p)) - 1.0


class GradientReverse(nn.Module):
    """Gradient reversal with the warm-start schedule driven by a persistent ``step`` buffer.

    ``max_steps`` is the length of the schedule (set by the caller from epochs x batches); :meth:`advance`
    moves one optimisation step on. With ``max_steps = 0`` the coefficient is 1 throughout.
    """

    def __init__(self, max_steps: int = 0, alpha: float = 10.0) -> None:
        super().__init__()
        self.max_steps = int(max_steps)
        self.alpha = float(alpha)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64), persistent=True)

    @property
    def coeff(self) -> float:
        if self.max_steps <= 0:
            return 1.0
        return grl_coefficient(int(self.step) / self.max_steps, self.alpha)

    def advance(self) -> None:
        self.step += 1

    def forward(self, x: Tensor) -> Tensor:
        return reverse_gradient(x, self.coeff)


class DomainDiscriminator(nn.Sequential):
    """``in -> hidden -> ReLU -> dropout -> hidden -> ReLU -> dropout -> 1`` (a domain logit: source = 1)."""

    def __init__(self, in_features: int, hidden: int = 256, dropout: float = 0.5) -> None:
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )


def _bce(logits: Tensor, label: float, weight: Tensor | None = None) -> Tensor:
    target = torch.full_like(logits, label)
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


class DomainAdversarialLoss(nn.Module):
    r"""DANN (Ganin et al., JMLR 2016): with discriminator :math:`D` and gradient reversal :math:`R_\lambda`,

    .. math:: L = \tfrac12\,\mathbb{E}_{x_s}[-\log \sigma(D(R_\lambda f_s))]
                + \tfrac12\,\mathbb{E}_{x_t}[-\log(1 - \sigma(D(R_\lambda f_t)))]

    The discriminator minimises :math:`L`; through the reversal the feature extractor maximises it, which
    aligns the source and target feature distributions. ``forward(f_s, f_t) -> L``.
    """

    def __init__(self, features_dim: int, *, hidden: int = 256, max_steps: int = 0) -> None:
        super().__init__()
        self.grl = GradientReverse(max_steps)
        self.discriminator = DomainDiscriminator(features_dim, hidden)
        self.domain_accuracy = float("nan")  # of the last call, for logs

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        d = self.discriminator(self.grl(torch.cat([f_s, f_t]))).squeeze(1)
        d_s, d_t = d[: len(f_s)], d[len(f_s) :]
        with torch.no_grad():
            self.domain_accuracy = float(torch.cat([d_s > 0, d_t <= 0]).float().mean())
        return 0.5 * (_bce(d_s, 1.0) + _bce(d_t, 0.0))


class ConditionalDomainAdversarialLoss(nn.Module):
    r"""CDAN (Long et al., NeurIPS 2018): the discriminator sees features conditioned on predictions,

    .. math:: h = f \otimes \mathrm{softmax}(g) \quad(\text{or } \tfrac{1}{\sqrt d}(R_f^\top f)\odot(R_g^\top
              \mathrm{softmax}(g)) \text{ when } \dim f \cdot K > 4096),\qquad
              L = \sum_i w_i\,\mathrm{BCE}(D(R_\lambda h_i), \mathrm{domain}_i) / \sum_i w_i

    with CDAN+E's entropy conditioning :math:`w_i = 1 + e^{-H(\mathrm{softmax}(g_i))}` (else :math:`w_i = 1`).
    The class probabilities are detached (as in the paper and tllib); the random matrices :math:`R_f, R_g`
    are fixed buffers drawn from the seed. ``forward(g_s, f_s, g_t, f_t) -> L``.
    """

    def __init__(
        self,
        features_dim: int,
        n_classes: int,
        *,
        entropy_conditioning: bool = True,
        randomized: bool | None = None,
        randomized_dim: int = RANDOMIZED_DIM,
        hidden: int = 256,
        max_steps: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.entropy_conditioning = entropy_conditioning
        self.randomized = features_dim * n_classes > RANDOMIZED_ABOVE if randomized is None else randomized
        self.grl = GradientReverse(max_steps)
        if self.randomized:
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("rf", torch.randn(features_dim, randomized_dim, generator=gen), persistent=True)
            self.register_buffer("rg", torch.randn(n_classes, randomized_dim, generator=gen), persistent=True)
            in_dim = randomized_dim
        else:
            in_dim = features_dim * n_classes
        self.discriminator = DomainDiscriminator(in_dim, hidden)
        self.domain_accuracy = float("nan")

    def multilinear(self, f: Tensor, p: Tensor) -> Tensor:
        if self.randomized:
            return (f @ self.rf) * (p @ self.rg) / math.sqrt(float(self.rf.shape[1]))
        return torch.bmm(p.unsqueeze(2), f.unsqueeze(1)).flatten(1)

    def forward(self, g_s: Tensor, f_s: Tensor, g_t: Tensor, f_t: Tensor) -> Tensor:
        f = torch.cat([f_s, f_t])
        p = torch.softmax(torch.cat([g_s, g_t]), dim=1).detach()
        d = self.discriminator(self.grl(self.multilinear(f, p))).squeeze(1)
        label = torch.cat([torch.ones(len(f_s)), torch.zeros(len(f_t))]).to(d)
        if self.entropy_conditioning:
            h = -(p * torch.log(p.clamp_min(1e-12))).sum(1)
            w = 1.0 + torch.exp(-h)
            w = w / w.sum() * len(w)
        else:
            w = torch.ones_like(d)
        with torch.no_grad():
            self.domain_accuracy = float(((d > 0).float() == label).float().mean())
        return F.binary_cross_entropy_with_logits(d, label, weight=w)


class ConfidencePseudoLabelLoss(nn.Module):
    r"""Self-training with confidence-thresholded pseudo-labels (Lee 2013; FixMatch's mask, Sohn et al. 2020):

    .. math:: L = \frac1{n_t}\sum_{i} \mathbb{1}[\max_k p_{ik} \ge \tau]\;\mathrm{CE}(g_i, \arg\max_k p_{ik}),
              \qquad p = \mathrm{softmax}(g).\mathrm{detach}()

    Rows below the threshold ``tau`` contribute zero (but count in the mean, as in tllib). ``forward(g_t) -> L``;
    ``last_ratio`` is the share of rows that passed.
    """

    def __init__(self, threshold: float = 0.9) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.last_ratio = float("nan")

    def forward(self, g_t: Tensor) -> Tensor:
        conf, pseudo = torch.softmax(g_t.detach(), dim=1).max(1)
        mask = (conf >= self.threshold).to(g_t.dtype)
        self.last_ratio = float(mask.mean()) if len(mask) else float("nan")
        return (F.cross_entropy(g_t, pseudo, reduction="none") * mask).mean()
