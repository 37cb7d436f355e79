from .io import (VOC_PALETTE, atomic_save, atomic_write, color_palette,
                 read_id_list, read_image, read_label_map, read_saliency,
                 save_label_png)

__all__ = [
    'VOC_PALETTE', 'atomic_save', 'atomic_write', 'color_palette',
    'read_id_list', 'read_image', 'read_label_map', 'read_saliency',
    'save_label_png'
]
