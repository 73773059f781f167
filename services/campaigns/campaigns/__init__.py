"""Campaigns service: marketing emails a tenant drafts (and, later, sends) to its contacts."""
