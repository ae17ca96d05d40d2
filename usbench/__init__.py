"""usbench: a benchmark harness for ultrasound image generators."""

__version__ = "0.1.0"
