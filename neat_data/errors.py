"""One exception type for bad input: the CLI prints its message (which names the file/row and the fix)."""


class NeatDataError(Exception):
    """Raised for bad input or refused operations; the message says what is wrong and what to do."""
