"""Built-in generators plugins, importable as usbench.generators.<name>."""
