"""Flask helpers shared by every service and the gateway."""
