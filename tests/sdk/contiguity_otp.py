#!/usr/bin/env python3
"""Drives simgate's Contiguity-compatible routes with the official Contiguity Python SDK
(PyPI `contiguity` 3.x), unchanged: only `base_url` points at simgate.

Usage: contiguity_otp.py BASE_URL API_KEY PHONE

Talks to the Rust test (tests/it/api_sdk.rs) over stdin/stdout, one line each way:
  -> "otp_id <id>"      after otp.send; the test reads the code from the SMS the phone got
  <- "<code>"           the code, for otp.verify
  -> "message_id <id>"  after text.send
  -> "OK"               everything passed (any failure raises, exit status 1)
"""

import sys

from contiguity import Contiguity
from contiguity._client import ContiguityApiError
from contiguity.otp import OTPLanguage


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    base_url, api_key, phone = sys.argv[1], sys.argv[2], sys.argv[3]
    client = Contiguity(token=api_key, base_url=base_url)

    sent = client.otp.send(phone, name="Acme", language=OTPLanguage.ENGLISH)
    assert sent.otp_id.startswith("otp_"), sent
    assert isinstance(sent.metadata.timestamp, int), sent.metadata
    assert sent.metadata.object == "response", sent.metadata
    say(f"otp_id {sent.otp_id}")

    code = sys.stdin.readline().strip()
    assert code, "the test sends the code"

    wrong = "".join("0" if c == "9" else chr(ord(c) + 1) for c in code)
    assert client.otp.verify(wrong, otp_id=sent.otp_id).verified is False

    resent = client.otp.resend(sent.otp_id)
    assert resent.resent is True, resent

    verified = client.otp.verify(code, otp_id=sent.otp_id)
    assert verified.verified is True, verified
    # Single use: the same code again is false.
    assert client.otp.verify(code, otp_id=sent.otp_id).verified is False

    # Errors decode through the SDK's error envelope (data.error, data.status).
    try:
        client.otp.verify("123456", otp_id="otp_does_not_exist")
    except ContiguityApiError as error:
        assert "404" in str(error), error
    else:
        raise AssertionError("an unknown otp_id must fail")

    text = client.text.send(to=phone, message="hello from the SDK")
    assert text.message_id.startswith("msg_"), text
    say(f"message_id {text.message_id}")
    say("OK")


if __name__ == "__main__":
    main()
