"""Built-in metrics plugins, importable as usbench.metrics.<name>."""
