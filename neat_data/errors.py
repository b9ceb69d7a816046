"""One exception type for bad input, for the whole project: the CLI prints its message (which names the file/row/flag
and the fix) as one line and exits 2."""


class NeatError(Exception):
    """Raised for bad input or refused operations; the message says what is wrong and what to do."""


#: the name before 0.2 (kept so that code catching it keeps working; it is the same class)
NeatDataError = NeatError
