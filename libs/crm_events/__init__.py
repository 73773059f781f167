"""Events: envelope, transactional outbox, relay, event logs (Kafka or embedded) and consumers."""
