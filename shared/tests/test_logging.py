import json
import logging
import sys

from tongban.shared.ids import resident_id_check_digit
from tongban.shared.logging import JsonFormatter, request_id_var

PID = "44200019900101123" + resident_id_check_digit("44200019900101123")


def test_log_lines_are_json_with_request_id_and_masked_numbers():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "citizen %s called from %s", (PID, "13912345678"),
                               None)
    token = request_id_var.set("req-1")
    try:
        line = JsonFormatter("cases").format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-1" and entry["service"] == "cases" and entry["level"] == "warning"
    assert PID not in line and "13912345678" not in line
    assert entry["message"] == f"citizen 442000********{PID[-4:]} called from 139****5678"


def test_exceptions_are_masked_too():
    try:
        raise ValueError(f"bad applicant {PID}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter("cases").format(record)
    assert PID not in line and "ValueError" in line
