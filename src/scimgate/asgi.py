"""The ASGI entry point for uvicorn workers: ``scimgate.asgi:app`` (settings from the environment)."""

from scimgate.app import create_app
from scimgate.config import Settings
from scimgate.logging import configure_logging

settings = Settings()
configure_logging(settings.log_json)
app = create_app(settings)
