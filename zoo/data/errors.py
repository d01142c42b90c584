"""Errors raised by the data layer."""


class ZooDataError(ValueError):
    """A problem with user data or a corpus, worded for the person running the CLI.

    The message alone must say what is wrong and where (path, line, corpus
    name), so the CLI can print it without a traceback.
    """
