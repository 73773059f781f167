"""The `crm` command-line tool: CSV imports and exports against the public API (bin/crm)."""
