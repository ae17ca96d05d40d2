"""Stable Diffusion 1.5 hybrid generator parts: base model, prompts, adapters, training,
generation (see :mod:`usbench.generators.sd15_hybrid` for the generator itself)."""
