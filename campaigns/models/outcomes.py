"""The call outcomes (``skillbases.outcomes``), where the campaign's models find them."""

from skillbases.outcomes import FAILURE_OUTCOMES, UNREACHED_OUTCOMES, Outcome

__all__ = ["FAILURE_OUTCOMES", "UNREACHED_OUTCOMES", "Outcome"]
