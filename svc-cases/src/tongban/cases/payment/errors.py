from tongban.shared.errors import AppError, Conflict, NotFound


class PaymentOrderNotFound(NotFound):
    code, title = "payment_order_not_found", "No payment order for this case"


class ReconciliationNotFound(NotFound):
    code, title = "reconciliation_not_found", "No such reconciliation"


class PaymentOutstanding(Conflict):
    """先缴后审: the case is accepted only once its order is paid."""

    code, title = "payment_outstanding", "The case's fee is not paid yet"


class OrderNotPayable(Conflict):
    code, title = "order_not_payable", "The payment order cannot be paid now"


class ProviderUnavailable(AppError):
    code, status, title = "payment_provider_unavailable", 503, "The payment provider cannot be reached"


class UnknownProvider(AppError):
    code, status, title = "unknown_payment_provider", 404, "No such payment provider"


class CallbackRefused(AppError):
    """A provider notification that does not hold: nothing is changed by it. `code` says why:
    bad_signature, stale (replayed outside the freshness window), replayed (the very same signed
    message again), unknown_order, wrong_amount, wrong_merchant, malformed."""

    code, status, title = "callback_refused", 400, "Payment notification refused"

    def __init__(self, reason: str, detail: str, status: int = 400) -> None:
        super().__init__(detail, reason=reason)
        self.status = status
        self.reason = reason
