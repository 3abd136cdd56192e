"""Parsing the Idempotency-Key header and fingerprinting the request it guards."""

import pytest

from idempotency.errors import InvalidIdempotencyKey
from idempotency.keys import fingerprint, parse_idempotency_key


class TestParseIdempotencyKey:
    """`parse_idempotency_key`: 1-255 printable ASCII, bare token or sf-string."""

    def test_bare_token_is_the_key_itself(self):
        # given
        raw = "key-123"

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == "key-123"

    def test_quoted_sf_string_is_the_same_key_as_the_bare_token(self):
        # given
        quoted, bare = '"key-123"', "key-123"

        # when
        keys = (parse_idempotency_key(quoted), parse_idempotency_key(bare))

        # then
        assert keys == ("key-123", "key-123")

    def test_uuid_keys_are_accepted_verbatim(self):
        # given
        raw = "8e03978e-40d5-43e8-bc93-6894a57f9324"

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == raw

    @pytest.mark.parametrize(
        ("quoted", "bare"),
        [
            (r'"say \"hi\""', 'say "hi"'),
            (r'"back\\slash"', "back\\slash"),
            (r'"\\\""', '\\"'),
        ],
    )
    def test_sf_string_escapes_are_unescaped(self, quoted, bare):
        # given a quoted key using the two sf-string escapes, \" and \\

        # when
        key = parse_idempotency_key(quoted)

        # then it is the same key as its unescaped bare form
        assert key == bare
        assert parse_idempotency_key(bare) == key

    @pytest.mark.parametrize(
        "raw",
        [
            r'"bad \n escape"',  # only \" and \\ are escapes in an sf-string
            r'"trailing backslash\"',
            '"lone " quote"',
        ],
    )
    def test_malformed_sf_string_is_rejected(self, raw):
        # given a quoted key that is not a valid sf-string

        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    def test_255_characters_is_the_longest_key(self):
        # given
        raw = "k" * 255

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == raw

    def test_256_characters_is_too_long(self):
        # given
        raw = "k" * 256

        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    def test_quotes_do_not_count_towards_the_length(self):
        # given 255 characters inside the quotes (257 on the wire)
        raw = '"' + "k" * 255 + '"'

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == "k" * 255

    def test_quoted_256_characters_is_too_long(self):
        # given
        raw = '"' + "k" * 256 + '"'

        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    def test_every_printable_ascii_character_is_allowed(self):
        # given a bare key containing every printable ASCII character, space included
        raw = "".join(chr(code) for code in range(0x21, 0x7F)) + " x"

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == raw

    @pytest.mark.parametrize(
        "raw",
        [
            "cl\u00e9",  # é: not ASCII
            "\u043a\u043b\u044e\u0447",  # Cyrillic
            "key-\U0001f600",  # emoji
            "tab\there",
            "new\nline",
            "nul\x00",
            "bell\x07",
            "del\x7f",
            '"quoted-cl\u00e9"',
            '"quoted\x01control"',
        ],
    )
    def test_non_printable_or_non_ascii_characters_are_rejected(self, raw):
        # given a key with a character outside printable ASCII

        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    @pytest.mark.parametrize("raw", ["", '""', "   ", " \t "])
    def test_empty_key_is_rejected(self, raw):
        # given an empty key, bare or quoted

        # when / then
        with pytest.raises(InvalidIdempotencyKey):
            parse_idempotency_key(raw)

    def test_surrounding_whitespace_is_not_part_of_the_key(self):
        # given an HTTP header value with optional whitespace around it
        raw = '  \t"key-123"\t '

        # when
        key = parse_idempotency_key(raw)

        # then
        assert key == "key-123"

    def test_keys_are_case_sensitive(self):
        # given
        lower, upper = "key-abc", "KEY-ABC"

        # when
        keys = {parse_idempotency_key(lower), parse_idempotency_key(upper)}

        # then
        assert len(keys) == 2


class TestFingerprint:
    """`fingerprint`: what makes two requests with one key "the same request"."""

    def test_json_whitespace_does_not_matter(self):
        # given
        compact = b'{"totalCents":500,"note":"x"}'
        spaced = b'{\n  "totalCents" : 500 ,\n  "note" : "x"\n}\n'

        # when
        prints = {
            fingerprint(method="PATCH", path="/orders/1/confirm", body=compact),
            fingerprint(method="PATCH", path="/orders/1/confirm", body=spaced),
        }

        # then
        assert len(prints) == 1

    def test_json_key_order_does_not_matter(self):
        # given
        one = b'{"a": 1, "b": {"c": 2, "d": 3}}'
        other = b'{"b": {"d": 3, "c": 2}, "a": 1}'

        # when
        prints = {
            fingerprint(method="POST", path="/orders", body=one),
            fingerprint(method="POST", path="/orders", body=other),
        }

        # then
        assert len(prints) == 1

    def test_json_string_escapes_do_not_matter(self):
        # given the same JSON text, once with a literal and once with an escaped character
        literal = '{"note": "caf\u00e9 / ok"}'.encode()
        escaped = b'{"note": "caf\\u00e9 \\/ ok"}'

        # when
        prints = {
            fingerprint(method="POST", path="/orders", body=literal),
            fingerprint(method="POST", path="/orders", body=escaped),
        }

        # then
        assert len(prints) == 1

    def test_empty_body_is_the_same_request_as_an_empty_object(self):
        # given
        bodies = [b"", b"{}", b"  \n", b"{ }"]

        # when
        prints = {fingerprint(method="POST", path="/orders", body=body) for body in bodies}

        # then
        assert len(prints) == 1

    def test_a_different_body_is_a_different_request(self):
        # given
        path = "/orders/1/confirm"

        # when
        prints = {
            fingerprint(method="PATCH", path=path, body=b'{"totalCents": 500}'),
            fingerprint(method="PATCH", path=path, body=b'{"totalCents": 501}'),
            fingerprint(method="PATCH", path=path, body=b'{"totalCents": "500"}'),
            fingerprint(method="PATCH", path=path, body=b"{}"),
            fingerprint(method="PATCH", path=path, body=b"[]"),
        }

        # then
        assert len(prints) == 5

    def test_a_different_path_is_a_different_request(self):
        # given
        body = b"{}"

        # when
        prints = {
            fingerprint(method="POST", path="/orders", body=body),
            fingerprint(method="POST", path="/orders/1/close", body=body),
            fingerprint(method="POST", path="/orders/2/close", body=body),
        }

        # then
        assert len(prints) == 3

    def test_a_different_method_is_a_different_request(self):
        # given
        path, body = "/orders/1", b"{}"

        # when
        prints = {
            fingerprint(method="POST", path=path, body=body),
            fingerprint(method="PATCH", path=path, body=body),
        }

        # then
        assert len(prints) == 2

    def test_method_case_does_not_matter(self):
        # given
        path, body = "/orders", b"{}"

        # when
        prints = {
            fingerprint(method="post", path=path, body=body),
            fingerprint(method="POST", path=path, body=body),
        }

        # then
        assert len(prints) == 1

    def test_non_json_bodies_are_compared_byte_for_byte(self):
        # given
        path = "/orders"

        # when
        same = {
            fingerprint(method="POST", path=path, body=b"a=1&b=2"),
            fingerprint(method="POST", path=path, body=b"a=1&b=2"),
        }
        different = {
            fingerprint(method="POST", path=path, body=b"a=1&b=2"),
            fingerprint(method="POST", path=path, body=b"b=2&a=1"),
        }

        # then
        assert len(same) == 1
        assert len(different) == 2
