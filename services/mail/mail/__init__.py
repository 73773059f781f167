"""Mail service: all email in and out. Renders and sends what the other services request, and
receives, parses, routes and announces what customers write in."""
