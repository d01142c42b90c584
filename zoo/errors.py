"""The one base of the zoo's user errors.

`ZooError` is what a person running the zoo can fix (a recipe key, a path, a corpus, an export, a
run that diverged): its message alone says what is wrong and where, so the command line prints it
as one line `zoo: error: ...` with exit status 2 and never a traceback. Every error class the zoo
raises for a user's mistake derives from it (and keeps its older base, ValueError or RuntimeError,
for callers that catch those). This module sits at the bottom of the import layers: every other
module may import it, it imports nothing of the zoo.
"""


class ZooError(Exception):
    """A user error, worded for the person running the zoo: its message is the whole report."""
