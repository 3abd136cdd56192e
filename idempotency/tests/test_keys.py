"""Parsing the Idempotency-Key header and fingerprinting the request it guards."""

import pytest

from idempotency.errors import InvalidIdempotencyKey
from idempotency.keys import fingerprint, parse_idempotency_key

EVERY_PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F)) + " x"


class TestParseIdempotencyKey:
    """`parse_idempotency_key`: 1-255 printable ASCII, bare token or sf-string."""

    @pytest.mark.parametrize(
        ("raw", "key"),
        [
            pytest.param("key-123", "key-123", id="bare-token"),
            pytest.param('"key-123"', "key-123", id="sf-string-same-as-bare-token"),
            pytest.param(
                "8e03978e-40d5-43e8-bc93-6894a57f9324",
                "8e03978e-40d5-43e8-bc93-6894a57f9324",
                id="uuid-verbatim",
            ),
            # an sf-string knows two escapes, \" and \\; a bare key keeps them as they are
            pytest.param(r'"say \"hi\""', 'say "hi"', id="escaped-quote"),
            pytest.param('say "hi"', 'say "hi"', id="bare-quote"),
            pytest.param(r'"back\\slash"', "back\\slash", id="escaped-backslash"),
            pytest.param("back\\slash", "back\\slash", id="bare-backslash"),
            pytest.param(r'"\\\""', '\\"', id="escaped-backslash-and-quote"),
            pytest.param('\\"', '\\"', id="bare-backslash-and-quote"),
            pytest.param("k" * 255, "k" * 255, id="255-chars-the-longest"),
            # the quotes do not count towards the length: 257 characters on the wire
            pytest.param('"' + "k" * 255 + '"', "k" * 255, id="255-chars-quoted"),
            pytest.param(EVERY_PRINTABLE_ASCII, EVERY_PRINTABLE_ASCII, id="printable-ascii"),
            # an HTTP header value with optional whitespace around it
            pytest.param('  \t"key-123"\t ', "key-123", id="surrounding-whitespace"),
        ],
    )
    def test_a_well_formed_key_is_what_it_names(self, raw, key):
        # when / then
        assert parse_idempotency_key(raw) == key

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param("k" * 256, id="256-chars"),
            pytest.param('"' + "k" * 256 + '"', id="256-chars-quoted"),
            # only \" and \\ are escapes in an sf-string
            pytest.param(r'"bad \n escape"', id="sf-string-unknown-escape"),
            pytest.param(r'"trailing backslash\"', id="sf-string-unterminated"),
            pytest.param('"lone " quote"', id="sf-string-lone-quote"),
            pytest.param("cl\u00e9", id="non-ascii"),
            pytest.param("\u043a\u043b\u044e\u0447", id="cyrillic"),
            pytest.param("key-\U0001f600", id="emoji"),
            pytest.param("tab\there", id="tab"),
            pytest.param("new\nline", id="newline"),
            pytest.param("nul\x00", id="nul"),
            pytest.param("bell\x07", id="bell"),
            pytest.param("del\x7f", id="del"),
            pytest.param('"quoted-cl\u00e9"', id="quoted-non-ascii"),
            pytest.param('"quoted\x01control"', id="quoted-control"),
            pytest.param("", id="empty"),
            pytest.param('""', id="empty-quoted"),
            pytest.param("   ", id="spaces"),
            pytest.param(" \t ", id="blanks"),
        ],
    )
    def test_a_malformed_key_is_rejected(self, raw):
        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    def test_keys_are_case_sensitive(self):
        # given
        lower, upper = "key-abc", "KEY-ABC"

        # when
        keys = {parse_idempotency_key(lower), parse_idempotency_key(upper)}

        # then
        assert len(keys) == 2


def fingerprints(requests):
    """The distinct fingerprints of (method, path, body) requests."""
    return {fingerprint(method=method, path=path, body=body) for method, path, body in requests}


class TestFingerprint:
    """`fingerprint`: what makes two requests with one key "the same request"."""

    @pytest.mark.parametrize(
        "requests",
        [
            pytest.param(
                [
                    ("PATCH", "/orders/1/confirm", b'{"totalCents":500,"note":"x"}'),
                    (
                        "PATCH",
                        "/orders/1/confirm",
                        b'{\n  "totalCents" : 500 ,\n  "note" : "x"\n}\n',
                    ),
                ],
                id="json-whitespace",
            ),
            pytest.param(
                [
                    ("POST", "/orders", b'{"a": 1, "b": {"c": 2, "d": 3}}'),
                    ("POST", "/orders", b'{"b": {"d": 3, "c": 2}, "a": 1}'),
                ],
                id="json-key-order",
            ),
            pytest.param(
                [
                    ("POST", "/orders", '{"note": "caf\u00e9 / ok"}'.encode()),
                    ("POST", "/orders", b'{"note": "caf\\u00e9 \\/ ok"}'),
                ],
                id="json-string-escapes",
            ),
            pytest.param(
                [("POST", "/orders", body) for body in [b"", b"{}", b"  \n", b"{ }"]],
                id="empty-body-and-empty-object",
            ),
            pytest.param(
                [("post", "/orders", b"{}"), ("POST", "/orders", b"{}")], id="method-case"
            ),
            pytest.param(
                [("POST", "/orders", b"a=1&b=2"), ("POST", "/orders", b"a=1&b=2")],
                id="same-non-json-bytes",
            ),
        ],
    )
    def test_the_same_request_written_differently_has_one_fingerprint(self, requests):
        # when / then
        assert len(fingerprints(requests)) == 1

    @pytest.mark.parametrize(
        "requests",
        [
            pytest.param(
                [
                    ("PATCH", "/orders/1/confirm", body)
                    for body in [
                        b'{"totalCents": 500}',
                        b'{"totalCents": 501}',
                        b'{"totalCents": "500"}',
                        b"{}",
                        b"[]",
                    ]
                ],
                id="body",
            ),
            pytest.param(
                [
                    ("POST", path, b"{}")
                    for path in ["/orders", "/orders/1/close", "/orders/2/close"]
                ],
                id="path",
            ),
            pytest.param(
                [("POST", "/orders/1", b"{}"), ("PATCH", "/orders/1", b"{}")], id="method"
            ),
            # a body that is not JSON is compared byte for byte
            pytest.param(
                [("POST", "/orders", b"a=1&b=2"), ("POST", "/orders", b"b=2&a=1")],
                id="non-json-bytes",
            ),
            # JSON is read as the API reads it: UTF-8 only, each member named once, so
            # a body the API refuses never stands in for the one it accepts
            pytest.param(
                [
                    ("POST", "/orders", '{"note": "x"}'.encode(encoding))
                    for encoding in ["utf-8", "utf-16", "utf-32"]
                ],
                id="json-in-other-encodings",
            ),
            pytest.param(
                [
                    ("POST", "/orders", b'{"totalCents": 1, "totalCents": 2}'),
                    ("POST", "/orders", b'{"totalCents": 2}'),
                ],
                id="json-member-named-twice",
            ),
        ],
    )
    def test_requests_that_differ_have_different_fingerprints(self, requests):
        # when / then
        assert len(fingerprints(requests)) == len(requests)
