"""How pseudo labels are made, in one place.

- :mod:`.rules`: registered rules from normalised CAMs (and saliency) to a
  label map (``LABEL_RULES``: ``threshold``, ``auxsegnet``, ``cian``).
- :mod:`.online`: rules run inside a training step on batched tensors
  (``pseudo_gt_from_masks``: SSSS / WS-FCN; ``cam_pseudo_labels``,
  ``perplexity``, ``soft_segmentation_labels``: CoSA).
- :mod:`.generators`: one generator per method (``TASK_UTILS``), each
  reading a model through ``label_outputs`` only, except
  ``SegmentationLabelGenerator``, which labels with a segmentor's own
  test-time prediction (CIAN's retraining labels).
- :mod:`.writer`: the one writer (iteration, rank sharding, resuming,
  stale-folder checks, atomic files) used by ``tools/make_pseudo_labels.py``
  and ``PseudoLabelUpdateHook``.
- :mod:`.meta`: ``meta.json`` and the identity that decides whether a label
  folder may be reused.

Label files are read and written by :mod:`mmseg_wsss.utils.io`
(``save_label_png``, ``read_label_map``, ``read_saliency``), the project's
one reader per file kind.
"""
from .generators import (AuxSegNetLabelGenerator, BaseLabelGenerator,
                         CAMLabelGenerator, SegmentationLabelGenerator,
                         image_saliency)
from .meta import (identity_diff, model_fingerprint, read_meta, update_meta,
                   write_meta)
from .online import (cam_pseudo_labels, perplexity, pseudo_gt_from_masks,
                     soft_segmentation_labels)
from .rules import (LABEL_RULES, cam_saliency_seeds, cam_to_label,
                    fuse_cam_saliency)
from .writer import (StaleLabelsError, dataset_identity, generator_identity,
                     label_identity, prepare_label_dir, write_pseudo_labels)

__all__ = [
    'AuxSegNetLabelGenerator', 'BaseLabelGenerator', 'CAMLabelGenerator',
    'SegmentationLabelGenerator', 'image_saliency', 'identity_diff',
    'model_fingerprint', 'read_meta', 'update_meta', 'write_meta',
    'pseudo_gt_from_masks', 'cam_pseudo_labels', 'perplexity',
    'soft_segmentation_labels', 'LABEL_RULES', 'cam_saliency_seeds',
    'cam_to_label', 'fuse_cam_saliency', 'StaleLabelsError',
    'dataset_identity', 'generator_identity', 'label_identity',
    'prepare_label_dir', 'write_pseudo_labels'
]
