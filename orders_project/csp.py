"""Content-Security-Policy for the pages a browser renders: Django's own middleware."""

from django.http import HttpRequest, HttpResponse
from django.middleware import csp


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """Django's CSP middleware (SECURE_CSP, `{{ csp_nonce }}`), for HTML responses only.

    A policy governs a document a browser renders. JSON and problem+json are never
    rendered as one (X-Content-Type-Options: nosniff), so API answers carry no policy
    and do not pay for building it.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)
