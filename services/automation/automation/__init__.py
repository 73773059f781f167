"""Automation service: webhook subscriptions and their deliveries (workflows come later)."""
