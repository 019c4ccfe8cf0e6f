"""The one exception type for expected problems: the CLI prints its message on one line and exits 1."""


class InputError(Exception):
    """A problem with the user's input (a file, a label row, a config, a model): not a bug."""
