"""Stochastic gate (SG) over a deep and a shallow feature stream.

SSSS's gate, used by WS-FCN unchanged (wsfcn.md 2.6).
"""
import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class StochasticGate(nn.Module):
    """Mix deep features with shallow ones, stochastically in training.

    Training: a fresh ``r`` in {0, 1} per element, ``P(r = 1) = 1 - psi``::

        x = r * (x_d - psi * x_s) / (1 - psi) + (1 - r) * x_s

    so ``E_r[x] = x_d``. Evaluation: ``x = (1 - psi) x_d + psi x_s``. The
    two differ on purpose (wsfcn.md 2.6); ``psi = 0`` passes ``x_d``.

    Args:
        psi (float): Probability of taking the shallow stream, in [0, 1).

    Raises:
        ValueError: ``psi`` is outside [0, 1).
    """

    def __init__(self, psi: float = 0.3):
        super().__init__()
        if not 0 <= psi < 1:
            raise ValueError(f'psi must be in [0, 1), got {psi}')
        self.psi = psi

    def forward(self, deep: Tensor, shallow: Tensor) -> Tensor:
        """Gate two feature maps.

        Args:
            deep (Tensor): Deep stream x_d, any shape (B x C x h x w).
            shallow (Tensor): Shallow stream x_s, the same shape.

        Returns:
            Tensor: Mixed features, the same shape.

        Raises:
            ValueError: The shapes differ.
        """
        if deep.shape != shallow.shape:
            raise ValueError('deep and shallow streams differ in shape: '
                             f'{tuple(deep.shape)} vs {tuple(shallow.shape)}')
        if not self.training:
            return (1 - self.psi) * deep + self.psi * shallow
        keep_deep = torch.rand_like(deep) >= self.psi
        return torch.where(keep_deep,
                           (deep - self.psi * shallow) / (1 - self.psi),
                           shallow)

    def extra_repr(self) -> str:
        return f'psi={self.psi}'
