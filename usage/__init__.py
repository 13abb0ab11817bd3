"""Usage metering, daily quotas, rate limits and analytics."""
