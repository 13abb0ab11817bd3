"""The browser portal, notifications and the staff views."""
