"""mmseg_wsss: weakly supervised semantic segmentation for MMSegmentation.

Importing the package registers its datasets, transforms, models, hooks and
metrics into mmseg's registries (configs: ``custom_imports``).
"""
from . import compat

compat.apply()

from . import (datasets, engine, evaluation, models,  # noqa: E402,F401
               pseudo_labels, structures, utils)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
