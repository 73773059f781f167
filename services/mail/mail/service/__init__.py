"""Mail use cases, per aggregate: requests (ingest), rendering, delivery, senders, suppressions,
mailboxes, inbound and bounces."""
