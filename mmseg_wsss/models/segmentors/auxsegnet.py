from typing import Dict

from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from .pseudo_label_source import PseudoLabelSource
from .test_time import TestTimeAugMixin

STAGES = ('cls', 'full')


@MODELS.register_module()
class AuxSegNet(TestTimeAugMixin, PseudoLabelSource, EncoderDecoder):
    """AuxSegNet / AuxSegNet+ (auxsegnet_plus.md): segmentation with
    classification and saliency as auxiliary tasks.

    ``decode_head`` is a :class:`DualAffinityHead` (segmentation, saliency
    and the cross-task affinity); ``auxiliary_head`` a :class:`CAMHead`
    (classification, whose weights give the CAMs). ``train_cfg.stage``:
    ``'cls'`` trains the backbone and the classifier only (phase (a));
    ``'full'`` trains everything (eq. 19). Inference returns the
    affinity-refined segmentation, with the test-time options of
    :class:`TestTimeAugMixin`; :meth:`label_outputs` feeds the pseudo-label
    generators.
    """

    #: The official code's test CRF (``test_cfg.crf=True``).
    default_crf = dict(
        num_iters=10,
        pos_sxy=4,
        pos_compat=3,
        bi_sxy=83,
        bi_srgb=5,
        bi_compat=3)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # mmseg.apis.init_model builds with train_cfg=None
        stage = (self.train_cfg or {}).get('stage', 'full')
        if stage not in STAGES:
            raise ValueError(f'train_cfg.stage must be one of {STAGES}, got '
                             f'{stage!r}')
        if stage == 'cls' and not self.with_auxiliary_head:
            raise ValueError("train_cfg.stage='cls' trains the classification "
                             'head: set auxiliary_head')
        self.stage = stage

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the trained stage.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample]): With ``gt_img_labels`` and,
                at stage ``'full'``, ``gt_sem_seg`` and ``gt_saliency``.

        Returns:
            dict[str, Tensor]: ``aux.loss_cls`` and, at stage ``'full'``,
            the ``decode.loss_*`` terms.
        """
        x = self.extract_feat(inputs)
        losses = dict()
        if self.stage == 'full':
            losses.update(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def label_outputs(self, inputs: Tensor,
                      with_decode: bool = True) -> Dict[str, Tensor]:
        """:meth:`PseudoLabelSource.label_outputs`: ``cam`` from the CAM head
        and, with ``with_decode``, from the decode head the cross-task
        affinity ``A_ct`` (``affinity``, unless ``affinity_mode='none'``),
        the pairwise-refined saliency logit (``sal``) and segmentation
        logits (``seg``), or the initial ones without an affinity.
        """
        x = self.extract_feat(inputs)
        out = dict(cam=self.auxiliary_head.cam(x))
        if with_decode:
            outs = self.decode_head(x)
            out['seg'] = outs.get('seg_pair', outs['seg'])
            if 'affinity' in outs:
                out['affinity'] = outs['affinity']
            if 'sal' in outs:
                out['sal'] = outs.get('sal_pair', outs['sal'])
        return out
