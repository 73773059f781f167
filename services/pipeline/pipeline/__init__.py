"""Pipeline service: sales pipelines with ordered stages, the deals moving through them, and tasks."""
