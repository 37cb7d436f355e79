"""Pairwise (non-local) and unary affinities: the one implementation.

Shapes: ``B`` images, ``C`` channels, ``N = h * w`` query positions,
``M = h' * w'`` key positions (``M = N`` when keys and queries come from
the same map). A map ``B x C x h x w`` is flattened to positions-as-rows
``B x N x C``. A pairwise affinity ``A`` (B x N x M) has rows that sum to 1
(softmax over the key index); a unary affinity ``u`` (B x N) is a
distribution over positions.
Feature enhancement uses :func:`pairwise_context`, which never holds an
N x M tensor (``scaled_dot_product_attention``); the matrix itself
(:func:`pairwise_affinity`) is built only where a method needs it, to refine
predictions and CAMs (:func:`propagate`).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def flatten_positions(x: Tensor) -> Tensor:
    """B x C x h x w -> B x N x C."""
    return x.flatten(2).transpose(1, 2)


def pairwise_affinity(query: Tensor, key: Tensor) -> Tensor:
    """Non-local affinity ``softmax_j(q_i . k_j)`` (no 1/sqrt(C) scaling).

    Args:
        query (Tensor): B x C x h x w.
        key (Tensor): B x C x h' x w' (another map or size allowed).

    Returns:
        Tensor: B x N x M, rows sum to 1.
    """
    logits = torch.bmm(flatten_positions(query), key.flatten(2))
    return logits.softmax(dim=2)


def pairwise_context(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """``A V`` for ``A = pairwise_affinity(query, key)``, without building A.

    Keys and values may come from another map (another image, a pooled
    map) than the queries; the context has the queries' positions.

    Args:
        query (Tensor): B x C x h x w.
        key (Tensor): B x C x h' x w'.
        value (Tensor): B x C' x h' x w'.

    Returns:
        Tensor: Context, B x C' x h x w.
    """
    # one head (B x 1 x N x C), contiguous: the flash kernel, which never
    # holds N x M, needs 4-D inputs with unit stride in C (otherwise SDPA
    # falls back to the math kernel on CPU)
    q, k, v = (flatten_positions(t).unsqueeze(1).contiguous()
               for t in (query, key, value))
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0).squeeze(1)
    return out.transpose(1, 2).unflatten(2, query.shape[2:])


def propagate(affinity: Tensor, x: Tensor) -> Tensor:
    """Apply a pairwise affinity once: ``out[:, i] = sum_j A[i, j] x[:, j]``.

    Args:
        affinity (Tensor): B x N x N.
        x (Tensor): Maps, B x C x h x w.

    Returns:
        Tensor: B x C x h x w.
    """
    out = torch.bmm(affinity, flatten_positions(x))
    return out.transpose(1, 2).reshape(x.shape)


def unary_affinity(logits: Tensor) -> Tensor:
    """Softmax over all positions of a one-channel map.

    Args:
        logits (Tensor): B x 1 x h x w.

    Returns:
        Tensor: B x N, each row a distribution.
    """
    return logits.flatten(1).softmax(dim=1)


def unary_context(unary: Tensor, x: Tensor) -> Tensor:
    """Unary-weighted sum of a map over positions, ``sum_j u[j] x[:, j]``.

    Args:
        unary (Tensor): B x N.
        x (Tensor): B x C x h x w.

    Returns:
        Tensor: B x C x 1 x 1 (broadcasts over positions).
    """
    return torch.einsum('bn,bcn->bc', unary, x.flatten(2))[..., None, None]


class PairwiseAffinity(nn.Module):
    """Task-specific non-local affinity: query, key and value embeddings.

    The key embedding has no bias: a key bias ``b`` adds ``q_i . b`` to
    every logit of row ``i``, which the softmax over the keys ignores, so it
    would never get a gradient (the official code's ``phi`` has one).

    Args:
        channels (int): Input and embedding channels.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1, bias=False)
        self.value = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, materialize: bool = False) -> tuple:
        """Pairwise context of ``x`` (B x C x h x w).

        Args:
            x (Tensor): B x C x h x w.
            materialize (bool): Also return the affinity matrix.

        Returns:
            tuple: Context ``A V`` (B x C x h x w), value ``V``
            (B x C x h x w) and ``A`` (B x N x N, or None).
        """
        query, key, value = self.query(x), self.key(x), self.value(x)
        if not materialize:
            return pairwise_context(query, key, value), value, None
        affinity = pairwise_affinity(query, key)
        return propagate(affinity, value), value, affinity


class UnaryAffinity(nn.Module):
    """Task-specific unary affinity: a 1x1 conv scored over positions.

    The score conv has no bias: a bias shifts every position's score by the
    same constant, which the softmax over positions ignores.

    Args:
        channels (int): Input channels.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Conv2d(channels, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """B x C x h x w -> B x N distribution over positions."""
        return unary_affinity(self.score(x))
