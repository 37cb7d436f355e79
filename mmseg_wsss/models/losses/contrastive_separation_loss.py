"""Contrastive separation of CAM vectors (CoSA CSC)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...pseudo_labels.online import (Threshold, cam_pseudo_labels, perplexity,
                                     valid_tokens)
from ...structures import IGNORE_INDEX


@MODELS.register_module()
class ContrastiveSeparationLoss(nn.Module):
    """Supervised contrastive loss on CAM vectors of confident tokens.

    cosa.md 2.11 (paper eqs. 9-10). Labels come from the assignment
    network's aux CAM ``M†'``, the gradient goes into the online CAM ``M``:

    1. ``M†'`` and the valid mask are average-pooled to the CAM grid
       (valid: pooled >= 0.5); no pooling when the sizes agree.
    2. CPL labels and perplexity ``P`` of the pooled map
       (:func:`~mmseg_wsss.pseudo_labels.online.cam_pseudo_labels`,
       :func:`~mmseg_wsss.pseudo_labels.online.perplexity`).
    3. ``Omega``: valid, labelled tokens with ``P <= epsilon``, pooled over
       the batch.
    4. Embedding ``e = [1 - max_{c: y_c = 1} sigma(M_c), sigma(M_1) y_1,
       ..., sigma(M_{C_f}) y_{C_f}]``, L2-normalised (``|e| >= 0.5``);
       similarity ``l = cosine / tau``.
    5-6. Anchors: at most ``max_anchors`` tokens of ``Omega``, contrast set:
       at most ``max_contrast`` (both uniform, from one ``torch.randperm``
       of the global RNG; the anchors are in the contrast set when
       ``max_anchors <= max_contrast``). Memory is
       ``max_anchors x max_contrast``.
    7. For anchor ``a`` with positives ``P(a)`` (same label, not ``a``)
       and negatives ``N(a)`` (other label)::

           L_a = -(1 / |P(a)|) sum_{k in P(a)}
                 [l_ak - logsumexp(l_ak, logsumexp_{n in N(a)} l_an)]

    8. ``L`` = mean of ``L_a`` over anchors with ``|P(a)| >= 1`` and
       ``|N(a)| >= 1``; ``0 * cam.sum()`` if there is none.

    Args:
        epsilon (float): Perplexity bound of ``Omega``, > 0.
        tau (float): Temperature of the similarity, > 0.
        max_anchors (int): Most anchors per batch, >= 1.
        max_contrast (int): Most tokens in the contrast set, >= 1.
        lambda_alpha (float): ``lambda_alpha`` of the perplexity.
        lambda_beta (float): ``lambda_beta`` of the perplexity.
        loss_weight (float): Weight of the loss.
        loss_name (str): Name of the loss item.

    Raises:
        ValueError: A hyper-parameter out of range.
    """

    def __init__(self,
                 epsilon: float = 1.0,
                 tau: float = 0.1,
                 max_anchors: int = 1024,
                 max_contrast: int = 4096,
                 lambda_alpha: float = 0.8,
                 lambda_beta: float = 1.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_csc'):
        super().__init__()
        if epsilon <= 0 or tau <= 0:
            raise ValueError(
                f'epsilon and tau must be > 0, got {epsilon} and {tau}')
        if max_anchors < 1 or max_contrast < 1:
            raise ValueError('max_anchors and max_contrast must be >= 1, got '
                             f'{max_anchors} and {max_contrast}')
        self.epsilon = epsilon
        self.tau = tau
        self.max_anchors = max_anchors
        self.max_contrast = max_contrast
        self.lambda_alpha = lambda_alpha
        self.lambda_beta = lambda_beta
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                cam: Tensor,
                aux_cam: Tensor,
                img_labels: Tensor,
                threshold: Threshold,
                valid: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            cam (Tensor): Online final CAM logits, B x C_f x h x w
                (differentiated).
            aux_cam (Tensor): Assignment network's normalised, label-masked
                aux CAM in [0, 1], B x C_f x H x W (not differentiated).
            img_labels (Tensor): Multi-hot image labels, B x C_f.
            threshold (float | tuple[float, float]): The aux CPL threshold
                ``xi†`` or ``(lo, hi)``.
            valid (Tensor, optional): Bool mask of real image pixels,
                B x H x W; all pixels by default.

        Returns:
            Tensor: Scalar loss (0, still in the graph, when no anchor has
            a positive and a negative).

        Raises:
            ValueError: Shapes disagree (named in the message) or the
                threshold is out of range.
        """
        self._check_shapes(cam, aux_cam, img_labels, valid)
        labels, omega = self._confident_tokens(aux_cam.detach(), threshold,
                                               valid, cam.shape[-2:])
        present = (img_labels > 0).to(cam.dtype)[..., None, None]
        scores = cam.sigmoid() * present
        background = 1 - scores.amax(dim=1, keepdim=True)
        embedding = F.normalize(torch.cat([background, scores], dim=1), dim=1)
        embedding = embedding.permute(0, 2, 3, 1)[omega]
        labels = labels[omega]
        num_tokens = labels.numel()
        if num_tokens > min(self.max_anchors, self.max_contrast):
            order = torch.randperm(num_tokens, device=labels.device)
        else:
            order = torch.arange(num_tokens, device=labels.device)
        anchors, contrast = (order[:self.max_anchors],
                             order[:self.max_contrast])
        same = labels[anchors, None] == labels[None, contrast]
        positive = same & (anchors[:, None] != contrast[None, :])
        keep = positive.any(dim=1) & (~same).any(dim=1)
        if not keep.any():
            return 0 * cam.sum()
        anchors, positive, same = anchors[keep], positive[keep], same[keep]
        logits = embedding[anchors] @ embedding[contrast].T / self.tau
        negatives = logits.masked_fill(same, float('-inf')).logsumexp(
            dim=1, keepdim=True)
        log_prob = logits - torch.logaddexp(logits, negatives)
        per_anchor = -(log_prob * positive).sum(dim=1) / positive.sum(dim=1)
        return self.loss_weight * per_anchor.mean()

    def _confident_tokens(self, aux_cam: Tensor, threshold: Threshold,
                          valid: Optional[Tensor],
                          size: torch.Size) -> Tuple[Tensor, Tensor]:
        """Steps 1-3: CPL labels (B x h x w) and the mask of ``Omega``."""
        if aux_cam.shape[-2:] != size:
            aux_cam = F.adaptive_avg_pool2d(aux_cam, size)
            if valid is not None:
                valid = valid_tokens(valid, size)
        labels, confidence = cam_pseudo_labels(aux_cam, threshold, valid)
        certain = perplexity(confidence, threshold, self.lambda_alpha,
                             self.lambda_beta) <= self.epsilon
        return labels, certain & (labels != IGNORE_INDEX)

    @staticmethod
    def _check_shapes(cam: Tensor, aux_cam: Tensor, img_labels: Tensor,
                      valid: Optional[Tensor]) -> None:
        """Raise a ValueError naming the shapes unless they agree."""
        if (cam.dim() != 4 or aux_cam.dim() != 4
                or aux_cam.shape[:2] != cam.shape[:2]
                or img_labels.shape != cam.shape[:2]):
            raise ValueError(
                f'cam {tuple(cam.shape)} (B x C_f x h x w), aux_cam '
                f'{tuple(aux_cam.shape)} (B x C_f x H x W) and img_labels '
                f'{tuple(img_labels.shape)} (B x C_f) disagree')
        expected = (aux_cam.shape[0], *aux_cam.shape[-2:])
        if valid is not None and valid.shape != expected:
            raise ValueError(
                f'valid must be {expected} for aux_cam of shape '
                f'{tuple(aux_cam.shape)}, got {tuple(valid.shape)}')

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
