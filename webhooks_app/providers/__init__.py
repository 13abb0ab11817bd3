"""Provider seams of the webhooks app: the only modules here that call Stripe
(through dj-stripe) or the LemonSqueezy API. Errors leave as `ProviderUnavailable`,
which the processing task retries."""


class ProviderUnavailable(Exception):
    """The provider could not be read now; processing is retried later."""
