"""Errors raised by the data layer."""
from zoo.errors import ZooError


class ZooDataError(ZooError, ValueError):
    """A problem with user data or a corpus, worded for the person running the CLI.

    The message alone must say what is wrong and where (path, line, corpus
    name), so the CLI can print it without a traceback.
    """
