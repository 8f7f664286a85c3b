"""The one exception type shown to users."""


class HeadstartError(Exception):
    """A user-facing problem: a one-line message naming the file/row/column/field and what to do.

    The CLI prints it without a traceback and exits with status 2.
    """
