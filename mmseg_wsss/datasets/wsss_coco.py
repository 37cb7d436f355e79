"""COCO 2014 dataset for weakly supervised semantic segmentation."""
from mmseg.datasets import COCOStuffDataset
from mmseg.registry import DATASETS

from mmseg_wsss.utils.io import color_palette
from .wsss_voc import WSSSVOCDataset

COCO_THING_CLASSES = tuple(COCOStuffDataset.METAINFO['classes'][:80])


@DATASETS.register_module()
class WSSSCOCODataset(WSSSVOCDataset):
    """COCO 2014 with 81 classes: background and the 80 things in COCO order.

    Layout (as written by ``tools/dataset_converters/coco2014.py``) under
    ``data_root``: ``images/{train2014,val2014}/<id>.jpg``,
    ``mask/{train2014,val2014}/<id>.png`` (0 background, 1..80, 255 ignore),
    ``{train,val}.txt`` (one id a line) and ``cls_labels.json``. The
    defaults read the train split; for val set ``ann_file='val.txt'`` and
    ``data_prefix=dict(img_path='images/val2014',
    seg_map_path='mask/val2014')``.

    Args:
        ann_file (str): Split file. Defaults to ``'train.txt'``.
        data_prefix (dict): Image and mask folders. Defaults to the train
            split's.
        **kwargs: :class:`WSSSVOCDataset` arguments.
    """
    METAINFO = dict(
        classes=('background', ) + COCO_THING_CLASSES,
        palette=color_palette(81).tolist())

    def __init__(self,
                 ann_file: str = 'train.txt',
                 data_prefix: dict = dict(
                     img_path='images/train2014',
                     seg_map_path='mask/train2014'),
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
