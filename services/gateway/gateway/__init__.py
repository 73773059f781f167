"""Gateway: signup, authentication (JWT, API keys), per-tenant rate limits and routing."""
