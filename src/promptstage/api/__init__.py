"""The HTTP API: FastAPI routers over the service layer."""

# Registers the ``prompt`` path convertor before any router declares ``{name:prompt}``.
from promptstage.api import paths as paths
