"""Model families; importing this package registers every variant."""
from zoo.models import byte_rcae  # noqa: F401
from zoo.models import slicenet  # noqa: F401
from zoo.models import recurrent  # noqa: F401
