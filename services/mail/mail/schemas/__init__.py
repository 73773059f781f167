"""Mail request and response shapes (marshmallow) and the message serialisation events share."""
