"""Credentials a request carries, read the one way every caller of them agrees on."""

from django.http import HttpRequest


def bearer_token(request: HttpRequest) -> str | None:
    """The token of `Authorization: Bearer <token>` (RFC 6750; the scheme in any case),
    or None when the request sends no bearer token."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    return token if scheme.lower() == "bearer" and token else None
