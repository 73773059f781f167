"""Gateway request and response schemas (they also feed the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from crm_core.scopes import API_KEY_SCOPES, ROLES
from crm_core.timezones import is_time_zone
from crm_http.fields import UtcDateTime
from crm_mail.requests import is_address

PASSWORD = validate.Length(min=10, max=128, error="Use 10 to 128 characters.")


def _mailable(value: str) -> None:
    """The mail service must be able to send to it: the verification or invitation goes there."""
    if not is_address(value.strip().lower()):
        raise ValidationError("Use a plain address (name@domain) that mail can be sent to.")


EMAIL = [validate.Length(max=320), _mailable]


def _lower_email(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("email"):
        data["email"] = data["email"].strip().lower()
    return data


class SignupSchema(Schema):
    company = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=EMAIL)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    name = fields.String(validate=validate.Length(max=200), allow_none=True)

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _lower_email(data)


REFRESH_IN_COOKIE = ("Answer the new refresh token in an HttpOnly, SameSite=Strict cookie (crm_refresh, path /v1/auth) "
                     "instead of the body, where a browser's scripts can never read it (the web console does this).")


class LoginSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))
    tenant_id = fields.UUID(load_default=None, metadata={
        "description": "Which tenant's account, when one email has accounts in several tenants."})
    refresh_in_cookie = fields.Boolean(load_default=False, metadata={"description": REFRESH_IN_COOKIE})

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _lower_email(data)


class RefreshSchema(Schema):
    refresh_token = fields.String(load_default=None, validate=validate.Length(min=1, max=200), metadata={
        "description": "Required unless the refresh token is in the crm_refresh cookie (refresh_in_cookie)."})
    refresh_in_cookie = fields.Boolean(load_default=False, metadata={"description": REFRESH_IN_COOKIE})


class AcceptInvitationSchema(Schema):
    invitation_token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    refresh_in_cookie = fields.Boolean(load_default=False, metadata={"description": REFRESH_IN_COOKIE})


class VerifyEmailSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200),
                          metadata={"description": "From the link in the verification email"})


class EmailVerificationSchema(Schema):
    """The answer to verifying (the token's user) and to asking for a new link (the caller)."""

    user_id = fields.UUID()
    email = fields.String()
    email_verified = fields.Boolean()


class TenantSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    created_at = UtcDateTime()


def time_zone_name(value: str) -> None:
    if not is_time_zone(value):
        raise ValidationError("Not an IANA time zone name (e.g. Europe/Berlin).")


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    email = fields.Email(required=True, validate=EMAIL)
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    time_zone = fields.String(validate=time_zone_name, metadata={"description": "IANA time zone, e.g. Europe/Berlin"})
    active = fields.Method("_active", dump_only=True)
    email_verified = fields.Method("_verified", dump_only=True, metadata={
        "type": "boolean", "description": "The user opened a link sent to this address (signup or invitation)"})
    created_at = UtcDateTime(dump_only=True)

    def _active(self, user: Any) -> bool:
        return getattr(user, "deactivated_at", None) is None

    def _verified(self, user: Any) -> bool:
        return getattr(user, "email_verified_at", None) is not None

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _lower_email(data)


class DirectoryUserSchema(Schema):
    """GET /v1/users/directory: who a user can assign or @mention (active users only)."""

    id = fields.UUID(dump_only=True)
    name = fields.String(allow_none=True, dump_only=True)
    email = fields.String(dump_only=True)


class NewUserSchema(UserSchema):
    """POST /v1/users: without a password the answer carries a one-time invitation token."""

    password = fields.String(load_only=True, validate=PASSWORD)


class CreatedUserSchema(UserSchema):
    """The answer to POST /v1/users: the user, and the one-time invitation token when no password was set."""

    invitation_token = fields.String(dump_only=True, metadata={"description": "Shown once; present only without a password"})


class UpdateUserSchema(Schema):
    """PATCH /v1/users/{id}: role change and deactivation (`active: false`)."""

    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    time_zone = fields.String(validate=time_zone_name)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Send at least one of name, role, active, time_zone.", "_schema")


class UpdateMeSchema(Schema):
    """PATCH /v1/me: the caller's own profile."""

    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    time_zone = fields.String(validate=time_zone_name)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Send at least one of name, time_zone.", "_schema")


class TokensSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String(allow_none=True, metadata={"description": "null when it went into the cookie"})
    token_type = fields.String()
    expires_in = fields.Integer()


class SignupResultSchema(TokensSchema):
    tenant = fields.Nested(TenantSchema)
    user = fields.Nested(UserSchema)


class MeSchema(Schema):
    user = fields.Nested(UserSchema, allow_none=True)
    tenant = fields.Nested(TenantSchema)
    roles = fields.List(fields.String())
    scopes = fields.List(fields.String())
    api_key_id = fields.UUID(allow_none=True)


class ApiKeyInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    scopes = fields.List(fields.String(validate=validate.OneOf(API_KEY_SCOPES)), required=True,
                         validate=validate.Length(min=1))


class ApiKeySchema(ApiKeyInSchema):
    id = fields.UUID(dump_only=True)
    prefix = fields.String(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    revoked_at = UtcDateTime(dump_only=True, allow_none=True)


class NewApiKeySchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "Shown once; store it now."})
