from .auxsegnet_label_generator import AuxSegNetLabelGenerator
from .hooks import PseudoLabelUpdateHook
from .pseudo_labels import (CAMLabelGenerator, read_saliency, write_meta,
                            write_pseudo_labels)
from .schedulers import StagewisePolyLR, StagewisePolyParamScheduler

__all__ = [
    'AuxSegNetLabelGenerator', 'PseudoLabelUpdateHook', 'CAMLabelGenerator',
    'read_saliency', 'write_meta', 'write_pseudo_labels', 'StagewisePolyLR',
    'StagewisePolyParamScheduler'
]
