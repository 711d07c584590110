"""The one exception tree of promptstage.

Every error carries a stable ``code``, the HTTP ``status_code`` the API answers with, and the
``field`` it is about (or ``None``). Messages say what is wrong and how to fix it.

    PromptstageError
    ├── ConfigurationError        bad settings or client arguments            (500 / raised locally)
    ├── InvalidInputError         malformed request or value                  (422)
    │   ├── MalformedRequestError   body is not valid JSON / not an object    (400)
    │   └── TemplateError           template syntax, variables, includes      (422)
    ├── AuthenticationError       missing, unknown or revoked API key         (401)
    ├── PermissionDeniedError     key lacks the role for this action          (403)
    ├── NotFoundError             unknown project, prompt, label, version...  (404)
    ├── ConflictError             state changed under you                     (409)
    │   ├── VersionMismatchError    compare-and-set on a label failed         (409)
    │   └── GateRefusedError        the evaluation gate refused a promotion   (409)
    ├── PreconditionRequiredError a protected label move says not what it replaces (428)
    ├── PayloadTooLargeError      body or template over the limit             (413)
    ├── RateLimitedError          too many requests                           (429)
    ├── ServiceUnavailableError   the store cannot be reached                 (503)
    └── SDKError                  raised by the client SDK only
        ├── TransportError          the server could not be reached
        ├── IntegrityError          a payload failed its digest check
        └── PromptUnavailableError  nothing to serve and no fallback given
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "GateRefusedError",
    "IntegrityError",
    "InvalidInputError",
    "MalformedRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionRequiredError",
    "PromptUnavailableError",
    "PromptstageError",
    "RateLimitedError",
    "SDKError",
    "ServiceUnavailableError",
    "TemplateError",
    "TransportError",
    "VersionMismatchError",
]


class PromptstageError(Exception):
    """Root of every error promptstage raises on purpose."""

    code: ClassVar[str] = "error"
    status_code: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the API's one error shape."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            body["details"] = self.details
        return body


class ConfigurationError(PromptstageError):
    code = "configuration_error"
    status_code = 500


class InvalidInputError(PromptstageError):
    code = "invalid_input"
    status_code = 422


class MalformedRequestError(InvalidInputError):
    code = "malformed_request"
    status_code = 400


class TemplateError(InvalidInputError):
    code = "template_error"


class AuthenticationError(PromptstageError):
    code = "unauthenticated"
    status_code = 401


class PermissionDeniedError(PromptstageError):
    code = "permission_denied"
    status_code = 403


class NotFoundError(PromptstageError):
    code = "not_found"
    status_code = 404


class ConflictError(PromptstageError):
    code = "conflict"
    status_code = 409


class VersionMismatchError(ConflictError):
    code = "version_mismatch"


class GateRefusedError(ConflictError):
    """The evaluation gate refused a promotion; ``details.verdicts`` say which suites and cases."""

    code = "gate_refused"


class PreconditionRequiredError(PromptstageError):
    code = "precondition_required"
    status_code = 428


class PayloadTooLargeError(PromptstageError):
    code = "payload_too_large"
    status_code = 413


class RateLimitedError(PromptstageError):
    code = "rate_limited"
    status_code = 429


class ServiceUnavailableError(PromptstageError):
    code = "unavailable"
    status_code = 503


class SDKError(PromptstageError):
    code = "sdk_error"


class TransportError(SDKError):
    code = "transport_error"


class IntegrityError(SDKError):
    code = "integrity_error"


class PromptUnavailableError(SDKError):
    code = "prompt_unavailable"
