"""``usbench sweep``: a grid of runs executed by local worker processes or on SLURM.

A sweep spec (TOML, :mod:`usbench.sweep.spec`) expands to units, one ``usbench run``
each (:mod:`usbench.sweep.units`). Executors (:mod:`usbench.sweep.executors`) submit the
units through submitit — local processes or SLURM job arrays, the same job function
(:func:`usbench.sweep.jobs.run_unit`) either way. A job never writes the SQLite store: it
leaves a complete run folder and a result record in the sweep folder, and one writer
(:mod:`usbench.sweep.ingest`) moves them into the store. Re-running a sweep submits only
the units with no result that are not queued or running (:mod:`usbench.sweep.status`);
a unit killed mid-training resumes from its newest checkpoint.

A unit is split into jobs (:mod:`usbench.sweep.fits`) where its fits are known
beforehand: each generator fit a task plans (``classifier_gain``: one per fold × minority
share, or one per source image for single-image generators; ``segmentation_gain``: one per
fold × real share), and each part of the run's own fit that its generator lists
(:meth:`~usbench.protocols.Generator.fit_parts`: one model per source image for SinDDM,
FewDDM and SinGAN), runs as a fit job of its own; the run job — which completes the run's
own fit, samples, scores and runs the tasks — starts once they are done (SLURM:
``afterok`` on its fit jobs; local: the driver submits it when they have finished) and
loads the finished fits. Scores are those of the same run done in one job.
``split_fits = false`` in the spec, or ``usbench sweep --no-split-fits``, keeps every fit
inside the run job.
"""
