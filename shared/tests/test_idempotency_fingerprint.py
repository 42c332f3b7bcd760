"""An Idempotency-Key's fingerprint: a retried multipart upload draws a new random boundary and is
still the same request; any other change of the body is a different one."""

from tongban.shared.idempotency import _without_boundary

BODY = (b'--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.7 x\r\n--{b}--\r\n")


def body(boundary: str, content: bytes = b"%PDF-1.7 x") -> bytes:
    return BODY.replace(b"{b}", boundary.encode()).replace(b"%PDF-1.7 x", content)


def test_a_new_boundary_is_the_same_request_and_new_content_is_not() -> None:
    first = _without_boundary("multipart/form-data; boundary=abc123", body("abc123"))
    retry = _without_boundary('multipart/form-data; boundary="zz9"', body("zz9"))
    assert first == retry
    other = _without_boundary("multipart/form-data; boundary=zz9", body("zz9", b"%PDF-1.7 y"))
    assert other != first
    raw = body("abc123")
    assert _without_boundary("application/pdf", raw) == raw
    assert _without_boundary("multipart/form-data", raw) == raw   # no boundary named: the body as sent
