"""Dense labels from a segmentor's own prediction (CIAN's retraining labels,
cian.md 8)."""
from typing import Sequence, Union

import numpy as np
import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import TASK_UTILS
from mmseg.structures import SegDataSample
from torch import Tensor

from ...models.segmentors.test_time import (check_merge, logits_crf,
                                            multiview_logits, resolve_crf)
from ...structures import stack_img_labels
from ...utils.io import read_image
from .base import BaseLabelGenerator


@TASK_UTILS.register_module()
class SegmentationLabelGenerator(BaseLabelGenerator):
    """The argmax of a segmentor's test-time prediction: dense labels.

    The model is any ``EncoderDecoder`` (stock, ``TTAEncoderDecoder`` or
    another segmentor on :class:`TestTimeAugMixin`); it needs no
    ``label_outputs``. Its views are run and merged by
    :func:`~mmseg_wsss.models.segmentors.test_time.multiview_logits`, the
    function behind the ``test_cfg`` keys ``scales`` / ``flip`` / ``merge``
    / ``add_max``, with this generator's options (the model's own
    ``test_cfg`` chooses only whole or slide inference). The merged logits
    are cropped to the image and resized to its original size as in
    ``predict`` (``postprocess_result``), optionally refined by a dense CRF
    on the image file (:func:`~mmseg_wsss.models.segmentors.test_time.
    logits_crf`, the test-time CRF), and their argmax is the label: every
    pixel gets a class, none is ignored.

    CIAN's labels(2) (cian.md 8; the spec's ``CRFPredictionLabelGenerator``)
    are ``scales=(0.75, 1.0, 1.25), flip=True, merge='logit', add_max=True,
    crf=True`` (``dense_crf``'s defaults are CIAN's: 10 iterations,
    Gaussian sxy 3 / compat 3, bilateral sxy 80 / srgb 13 / compat 10), at
    the original image size instead of the code's 513 x 513 resize
    (cian.md 14.10).

    Args:
        scales (Sequence[float]): Input scales.
        flip (bool): Add horizontally flipped views.
        merge (str): ``'prob'`` (mean softmax probabilities) or ``'logit'``
            (mean logits).
        add_max (bool): Add each flip direction's element-wise maximum over
            the scales as one more map (CIAN).
        crf (bool | dict, optional): Dense CRF: True for
            :func:`~mmseg_wsss.utils.crf.dense_crf`'s defaults, a dict of
            its arguments over them, None for none.
        restrict_to_labels (bool): Keep only the background and the
            classes of the image labels (``gt_img_labels``): the other
            classes are dropped before the CRF and the argmax. CIAN's code
            does not restrict (cian.md 8), hence the default False.

    Raises:
        ValueError: An unknown ``merge`` or empty ``scales``.
        TypeError: A ``crf`` that is neither None, a bool nor a dict.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, ),
                 flip: bool = False,
                 merge: str = 'prob',
                 add_max: bool = False,
                 crf: Union[None, bool, dict] = None,
                 restrict_to_labels: bool = False):
        check_merge(merge)
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f'scales must be positive numbers, got {scales}')
        self.scales = tuple(scales)
        self.flip = flip
        self.merge = merge
        self.add_max = add_max
        self.crf = resolve_crf(crf, {})
        self.restrict_to_labels = restrict_to_labels

    @torch.no_grad()
    def __call__(self, model: EncoderDecoder, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """See :meth:`BaseLabelGenerator.__call__`.

        Args:
            model (EncoderDecoder): The segmentor, in eval mode.
            inputs (Tensor): The normalised image, 1 x 3 x H x W (padded if
                its meta's ``padding_size`` says so).
            data_sample (SegDataSample): Its sample: ``ori_shape`` and,
                with ``restrict_to_labels``, ``gt_img_labels``.
            data_info (dict): Its dataset entry (``img_path`` for the CRF).

        Returns:
            dict: ``label``, H x W uint8 class ids (0 background, no 255),
            and ``cam``, the C x H x W float32 class probabilities the
            label is the argmax of (CRF posterior or softmax of the merged
            logits; zero for dropped classes).
        """
        logits = multiview_logits(model, inputs, [data_sample.metainfo],
                                  self.scales, self.flip, self.merge,
                                  self.add_max)
        # cropped to the image and resized to its original size, as predict
        sample = SegDataSample(metainfo=data_sample.metainfo)
        logits = model.postprocess_result(logits, [sample])[0].seg_logits.data
        keys = self._kept_classes(logits.shape[0],
                                  data_sample).to(logits.device)
        if self.crf is None:
            scores = logits[keys]
            probs = scores.softmax(dim=0)
        else:
            scores = probs = logits_crf(
                read_image(data_info['img_path']), logits[keys], self.crf)
        label = keys[scores.argmax(dim=0)]
        full = probs.new_zeros(logits.shape)
        full[keys] = probs
        return dict(
            label=label.cpu().numpy().astype(np.uint8),
            cam=full.cpu().numpy().astype(np.float32))

    def _kept_classes(self, num_classes: int,
                      data_sample: SegDataSample) -> Tensor:
        """Channel indices the label may take: all, or with
        ``restrict_to_labels`` the background and the labelled classes.

        Raises:
            ValueError: ``gt_img_labels`` does not have ``num_classes - 1``
                entries (the model's classes count the background).
        """
        if not self.restrict_to_labels:
            return torch.arange(num_classes)
        img_labels = stack_img_labels([data_sample])[0]
        if img_labels.numel() != num_classes - 1:
            raise ValueError(
                f'restrict_to_labels: the image has {img_labels.numel()} '
                f'image-label entries, the model {num_classes} classes '
                '(background first); they must match')
        return torch.cat([
            torch.zeros(1, dtype=torch.long),
            torch.nonzero(img_labels > 0)[:, 0].cpu() + 1
        ])
