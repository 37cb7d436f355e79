"""Class-balanced cross-entropy with a completeness gate (SSSS / WS-FCN)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...structures import IGNORE_INDEX


@MODELS.register_module()
class ClassBalancedCELoss(nn.Module):
    """Cross-entropy against pseudo labels, classes weighted by rarity.

    wsfcn.md 2.10, per image: with ``n_c`` the pixels labelled ``c`` and
    ``N = sum_c n_c`` (ignored pixels excluded), pixel ``i`` labelled
    ``y_i`` has weight ``w = (N - n_{y_i}) / (1 + N)``; ignored pixels
    weigh 0 but count in the mean::

        L_img = (1 / (H W)) sum_i w_i CE(z_i, y_i)
        L = loss_weight * (1 / B) sum_b g_b L_img,b

    The gate ``g_b`` is 1 only if the label map holds as many classes as
    the image labels plus background, ``#{c : n_c > 0} = sum_c y_c + 1``
    (for pseudo labels that never contain absent classes: every labelled
    class and the background are present). A gated image adds exactly 0
    while the loss stays in the graph.

    Args:
        loss_weight (float): Weight of the loss.
        ignore_index (int): Label of ignored pixels.
        loss_name (str): Name of the loss item (``loss_`` prefix: summed
            into the total loss).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 ignore_index: int = IGNORE_INDEX,
                 loss_name: str = 'loss_seg'):
        super().__init__()
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    def forward(self, seg_logits: Tensor, seg_label: Tensor,
                img_labels: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            seg_logits (Tensor): Logits, B x C x H x W (background at 0),
                already at the label size (SSSS: bilinear,
                ``align_corners=True``).
            seg_label (Tensor): Long labels, B x H x W, in {0..C-1} or
                ``ignore_index``.
            img_labels (Tensor): Multi-hot image labels, B x (C - 1).

        Returns:
            Tensor: Scalar loss.

        Raises:
            ValueError: Logits and labels differ in size, or the image
                labels are not B x (C - 1).
        """
        batch, num_classes = seg_logits.shape[:2]
        if seg_logits.shape[-2:] != seg_label.shape[-2:]:
            raise ValueError(
                f'logits {tuple(seg_logits.shape)} and labels '
                f'{tuple(seg_label.shape)} differ in size; resize the logits '
                'to the labels first')
        if img_labels.shape != (batch, num_classes - 1):
            raise ValueError(
                f'img_labels must be {batch} x {num_classes - 1}, got '
                f'{tuple(img_labels.shape)}')
        labels = seg_label.flatten(1)
        # counted by comparison, not scatter_add_: deterministic on CUDA;
        # ignored pixels match no class. float32: float16 overflows past
        # 65,504 pixels (321 x 321)
        classes = torch.arange(num_classes, device=labels.device)
        counts = (labels.unsqueeze(1) == classes[:, None]).sum(2).float()
        total = counts.sum(dim=1, keepdim=True)
        weights = (total - counts) / (1 + total)
        # ignored pixels: CE 0, so the weight gathered for them is unused
        target = labels.where(labels != self.ignore_index, 0)
        ce = F.cross_entropy(
            seg_logits, seg_label, ignore_index=self.ignore_index,
            reduction='none')
        per_image = (weights.gather(1, target) * ce.flatten(1)).mean(dim=1)
        gate = (counts > 0).sum(dim=1) == (img_labels > 0).sum(dim=1) + 1
        return self.loss_weight * (gate * per_image).mean()

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
