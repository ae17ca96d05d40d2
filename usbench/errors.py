"""The base of every error a user can meet and fix: its message alone says what to do.

The command line prints such an error as one line (``usbench: error: ...``) and exits with
a non-zero code; the traceback is shown only with ``usbench --debug`` or ``USBENCH_DEBUG=1``.
Specific errors subclass both :class:`UsbenchError` and the built-in they have always been
(``DatasetUnavailable`` is still a ``RuntimeError``), so existing ``except`` clauses hold.
"""

from __future__ import annotations


class UsbenchError(Exception):
    """A failure with a message that names the cause and the fix (no traceback needed)."""
