"""``usbench sweep``: a grid of runs executed by local worker processes or on SLURM.

A sweep spec (TOML, :mod:`usbench.sweep.spec`) expands to units, one ``usbench run``
each (:mod:`usbench.sweep.units`). Executors (:mod:`usbench.sweep.executors`) submit the
units through submitit — local processes or SLURM job arrays, the same job function
(:func:`usbench.sweep.jobs.run_unit`) either way. A job never writes the SQLite store: it
leaves a complete run folder and a result record in the sweep folder, and one writer
(:mod:`usbench.sweep.ingest`) moves them into the store. Re-running a sweep submits only
the units with no result that are not queued or running (:mod:`usbench.sweep.status`);
a unit killed mid-training resumes from its newest checkpoint.

A unit with tasks is split into jobs (:mod:`usbench.sweep.fits`): each generator fit a
task plans (``classifier_gain``: one per fold × minority share, or one per source image
for single-image generators; ``segmentation_gain``: one per fold × real share) runs as a
fit job of its own, and the run job — which trains the run's own generator, samples,
scores and runs the tasks — starts once they are done (SLURM: ``afterok`` on its fit
jobs; local: the driver submits it when they have finished) and loads the finished fits.
Scores are those of the same run done in one job. ``split_tasks = false`` in the spec, or
``usbench sweep --no-split-tasks``, keeps every fit inside the run job.
"""
