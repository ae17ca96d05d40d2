"""Reader studies: a blinded visual Turing test of real against generated images.

``usbench study create`` draws a balanced, shuffled set of real test images and samples of
stored runs, re-encodes every image under an opaque random id and keeps the key (which
image is real, which run made each sample) in a file apart from what the web app serves.
``usbench study serve`` runs the reader web app (:mod:`usbench.study.webapp`); answers go
to a SQLite database in WAL mode (:mod:`usbench.study.database`) the moment they are
given. :mod:`usbench.study.statistics` scores them and ``usbench report`` writes the
reader table (:mod:`usbench.study.report_tables`).

Modules: :mod:`~usbench.study.blinding` (creation), :mod:`~usbench.study.database`,
:mod:`~usbench.study.tokens` (reader/admin tokens, CSRF), :mod:`~usbench.study.webapp`,
:mod:`~usbench.study.statistics`, :mod:`~usbench.study.report_tables`,
:mod:`~usbench.study.cli`.
"""
