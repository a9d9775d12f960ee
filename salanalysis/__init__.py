"""salanalysis: visual attention and multi-label image classification on MS COCO.

The analyses, figures and models of Luo, Jiang & Zhao, "Visual Attention in
Multi-Label Image Classification" (CVPR workshops 2019), as a library and a
command-line tool. ``import salanalysis`` never imports torch; the training
sub-package :mod:`salanalysis.dualstream` does.
"""

from salanalysis.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]
