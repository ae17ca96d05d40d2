"""``python -m usbench`` (also ``accelerate launch -m usbench run ...``)."""

from usbench.cli import entry

entry()
