"""The one error type: a refusal or failure whose message names the problem."""


class PromotionError(Exception):
    """Raised when a promotion, deployment record or rollback must not go ahead."""
