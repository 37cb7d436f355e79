"""Images back from the data preprocessor's normalised space."""
from torch import Tensor, nn


def denormalize(inputs: Tensor, data_preprocessor: nn.Module) -> Tensor:
    """Undo a data preprocessor's normalisation.

    Args:
        inputs (Tensor): Normalised images, B x 3 x H x W.
        data_preprocessor (nn.Module): The model's preprocessor; its
            ``mean`` / ``std`` buffers (absent: no normalisation) are used.

    Returns:
        Tensor: Images in [0, 1] (channel order as ``inputs``: RGB after a
        ``bgr_to_rgb`` preprocessor).
    """
    mean = getattr(data_preprocessor, 'mean', None)
    std = getattr(data_preprocessor, 'std', None)
    images = inputs if mean is None else inputs * std + mean
    return (images / 255.).clamp(0, 1)
