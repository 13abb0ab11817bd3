"""Django admin for staff."""
