"""Datasets: the ImageSet container, loaders, the LUS phantom and patient-level splits."""
