from tongban.shared.errors import AppError, Forbidden


class NotAPartner(Forbidden):
    code, title = "not_a_partner", "Only partner systems (role partner) call the exchange endpoints"


class SenderMismatch(Forbidden):
    code, title = "sender_mismatch", "X-Interop-Sender is not the partner the access token was issued to"


class UnknownPartner(Forbidden):
    code, title = "unknown_partner", "The sender is not a registered, active partner city"


class ServiceNotGranted(Forbidden):
    code, title = "service_not_granted", "The partner was not granted this service"


class ItemNotGranted(Forbidden):
    code, title = "item_not_granted", "The partner was not granted this item"


class NonceReplayed(AppError):
    code, status, title = "nonce_replayed", 409, "This nonce was seen before: the message is a replay"


class BadMessageId(AppError):
    code, status, title = "bad_message_id", 400, "X-Interop-Message-Id must be a UUID (and equal Idempotency-Key)"
