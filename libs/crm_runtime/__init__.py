"""Process entry points shared by every service: migrate, web (gunicorn), worker (relay + consumers)."""
