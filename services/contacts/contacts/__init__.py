"""Contacts service: the people (and, later, companies) a tenant works with."""
