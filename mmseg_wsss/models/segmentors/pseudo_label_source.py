from abc import ABCMeta, abstractmethod
from typing import Dict

from torch import Tensor

#: Keys :meth:`PseudoLabelSource.label_outputs` may return.
LABEL_OUTPUT_KEYS = ('cam', 'affinity', 'sal', 'seg')


class PseudoLabelSource(metaclass=ABCMeta):
    """A segmentor that feeds a pseudo-label generator.

    A generator (:mod:`mmseg_wsss.pseudo_labels`) calls :meth:`label_outputs`
    on the (rescaled, flipped) copies of an image it chooses and makes labels
    of the outputs. Multi-scale fusion, flipping, normalisation and
    image-label masking are the generator's job, not the segmentor's: the
    outputs are raw, at feature resolution, and depend on nothing but the
    images (eval mode).
    """

    @abstractmethod
    def label_outputs(self,
                      inputs: Tensor,
                      with_decode: bool = True) -> Dict[str, Tensor]:
        """Raw outputs pseudo labels are made of, at feature resolution.

        ``h x w`` is the size of the features the CAMs are computed on;
        ``N = h * w`` positions, in row-major order.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            with_decode (bool): Also run what comes after the classifier
                (the decode head). False returns ``cam`` only, for labels
                made of raw CAMs.

        Returns:
            dict[str, Tensor]: Always ``cam``: raw (signed, unnormalised)
            CAMs of the foreground classes, B x K_fg x h x w. With
            ``with_decode``, each that the model has:

            - ``affinity``: row-stochastic affinity between positions,
              B x N x N (``affinity[b, i, j]`` is the weight of position
              ``j`` for position ``i``; apply it with
              :func:`~mmseg_wsss.models.utils.affinity.propagate`);
            - ``sal``: saliency logit, B x 1 x h x w;
            - ``seg``: segmentation logits, B x C x h x w (C counts the
              background).
        """
