"""Built-in tasks plugins, importable as usbench.tasks.<name>."""
