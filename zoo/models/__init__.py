"""Model families; importing this package registers every variant."""
from zoo.models import byte_rcae  # noqa: F401
