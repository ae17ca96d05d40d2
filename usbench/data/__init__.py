"""Datasets: the ImageSet container, loaders, the LUS phantom and patient-level splits.

``open_dataset("folder:/data/x" | "lus" | ..., image_size=..., root=..., options=...)`` is
the one entry point the harness and CLI use.
"""

from usbench.data.open import open_dataset

__all__ = ["open_dataset"]
