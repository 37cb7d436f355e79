from .io import (VOC_PALETTE, atomic_save, color_palette, load_label_png,
                 save_label_png)

__all__ = [
    'VOC_PALETTE', 'atomic_save', 'color_palette', 'load_label_png',
    'save_label_png'
]
