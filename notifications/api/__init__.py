"""REST API of the notifications app (`/api/notifications`)."""
