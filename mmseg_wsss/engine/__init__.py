from .pseudo_labels import (CAMLabelGenerator, read_saliency, write_meta,
                            write_pseudo_labels)

__all__ = [
    'CAMLabelGenerator', 'read_saliency', 'write_meta', 'write_pseudo_labels'
]
