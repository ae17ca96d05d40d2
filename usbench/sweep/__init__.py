"""``usbench sweep``: a grid of runs executed by local worker processes or on SLURM.

A sweep spec (TOML, :mod:`usbench.sweep.spec`) expands to units, one ``usbench run``
each (:mod:`usbench.sweep.units`). Executors (:mod:`usbench.sweep.executors`) submit the
units through submitit — local processes or SLURM job arrays, the same job function
(:func:`usbench.sweep.jobs.run_unit`) either way. A job never writes the SQLite store: it
leaves a complete run folder and a result record in the sweep folder, and one writer
(:mod:`usbench.sweep.ingest`) moves them into the store. Re-running a sweep submits only
the units with no result that are not queued or running (:mod:`usbench.sweep.status`);
a unit killed mid-training resumes from its newest checkpoint.
"""
