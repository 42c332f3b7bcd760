from tongban.shared.errors import Conflict, InvalidField, NotFound


class MessageNotFound(NotFound):
    code, title = "message_not_found", "No such message"


class DeliveryNotFound(NotFound):
    code, title = "delivery_not_found", "No such delivery"


class DeliveryNotFailed(Conflict):
    code, title = "delivery_not_failed", "Only failed deliveries are retried"


class SinkNotConfigured(NotFound):
    code, title = "local_sink_off", "No local notification sink here"


class ContactAccountUnfit(InvalidField):
    def __init__(self, message: str) -> None:
        super().__init__("account_id", message)


class AccountGone(NotFound):
    code, title = "account_not_found", "The caller's account is not there (or switched off)"
