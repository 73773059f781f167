"""Gateway routes: accounts and keys served here; everything else under /v1 is forwarded."""

from __future__ import annotations

import html
from typing import Any

from flask import Blueprint, Response, g, request

from crm_core import context
from crm_core.errors import BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized, validation_error
from crm_core.internal_token import HEADER as INTERNAL_HEADER
from crm_core.internal_token import TokenCache
from crm_db.database import Database
from crm_http.idempotency import idempotency_table, idempotent
from crm_http.openapi import ApiDoc
from crm_http.parsing import load, parse_uuid
from crm_http.resource import json_response
from gateway import schemas as s
from gateway.auth import Guard
from gateway.credentials import UserStatus
from gateway.docs import OpenApiCache
from gateway.keys import ApiKeys
from gateway.models import metadata
from gateway.proxy import Router
from gateway.service import Accounts
from gateway.verification import ACCEPT_PATH, VERIFY_PATH, UnverifiedAccount, is_verified

ANONYMOUS_PATHS = frozenset({"/v1/signup", "/v1/auth/token", "/v1/auth/refresh", "/v1/auth/logout",
                             "/v1/auth/invitations/accept", VERIFY_PATH})
# The web console's refresh token: HttpOnly (no script reads it), SameSite=Strict (no other site
# sends it), sent only to the auth endpoints.
REFRESH_COOKIE, REFRESH_COOKIE_PATH = "crm_refresh", "/v1/auth"
FORWARDED_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
IDEMPOTENCY_HEADER = [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}]
VERIFIED_PAGE = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Email verified</title></head>"
                 "<body><h1>Email verified</h1><p>{email} is verified. You can close this page.</p></body></html>")
CONFIRM_PAGE = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Verify your email</title></head>"
                "<body><h1>Verify your email</h1><p>Confirm that {email} is your address.</p>"
                "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">"
                "<button type=\"submit\">Verify</button></form></body></html>")
USER_ID = [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]


def _link_token(token: str) -> str:
    if not token or len(token) > 200:
        raise BadRequest("Open the link from the email: it carries a `token`.", errors={"token": ["Missing or too long."]})
    return token


def document(doc: ApiDoc) -> None:
    t = "Accounts"
    doc.operation("/v1/signup", "post", summary="Sign up a company (always a new tenant)", tag=t,
                  request=s.SignupSchema, response=s.SignupResultSchema, status=201,
                  extra_responses={422: "Invalid fields"}, parameters=IDEMPOTENCY_HEADER)
    doc.operation("/v1/auth/token", "post", summary="Exchange email and password for tokens", tag=t,
                  request=s.LoginSchema, response=s.TokensSchema,
                  extra_responses={403: "Email not verified within CRM_UNVERIFIED_ACCOUNT_DAYS (a new link is sent)",
                                   429: "Too many failed sign-ins for this email"})
    verified = {"application/json": {"schema": s.EmailVerificationSchema},
                "text/html": {"schema": {"type": "string"}}}
    doc.operation(VERIFY_PATH, "get", summary="Open the emailed link: checks it and asks to confirm (the POST verifies)", tag=t,
                  response_content=verified, extra_responses={410: "The link expired; ask for a new one"},
                  parameters=[{"name": "token", "in": "query", "required": True,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 200}}])
    doc.operation(VERIFY_PATH, "post", summary="Verify an email address with the token from the email", tag=t,
                  request=s.VerifyEmailSchema, response=s.EmailVerificationSchema,
                  extra_responses={410: "The token expired; ask for a new one"})
    doc.operation(VERIFY_PATH + "/resend", "post", summary="Email a new verification link (the old one stops working)",
                  tag=t, response=s.EmailVerificationSchema, status=202,
                  extra_responses={409: "Already verified", 429: "Too many verification emails; try later"})
    doc.operation("/v1/auth/refresh", "post", summary="Rotate a refresh token", tag=t, request=s.RefreshSchema,
                  response=s.TokensSchema)
    doc.operation("/v1/auth/logout", "post", summary="End the login: revoke the refresh token's whole family",
                  tag=t, request=s.RefreshSchema, status=204)
    doc.operation("/v1/auth/invitations/accept", "post", summary="Set a password from an invitation", tag=t,
                  request=s.AcceptInvitationSchema, response=s.TokensSchema)
    doc.operation("/v1/me", "get", summary="The caller, their tenant and roles", tag=t, response=s.MeSchema)
    doc.operation("/v1/me", "patch", summary="Change the caller's own name or time zone", tag=t,
                  request=s.UpdateMeSchema, response=s.MeSchema, extra_responses={422: "Invalid fields"})
    doc.operation("/v1/users", "post", summary="Add a user (owners and admins)", tag=t, request=s.NewUserSchema,
                  response=s.CreatedUserSchema, status=201, parameters=IDEMPOTENCY_HEADER,
                  extra_responses={409: "This tenant already has a user with this email"})
    doc.operation("/v1/users", "get", summary="List the tenant's users (owners and admins)", tag=t,
                  response=s.UserSchema, list_of=True)
    doc.operation("/v1/users/directory", "get", summary="The tenant's active users: id, name, email (any signed-in "
                  "user; whom to assign or @mention; an API key needs the admin scope)", tag=t,
                  response=s.DirectoryUserSchema, list_of=True)
    doc.operation("/v1/users/{user_id}", "patch", summary="Change a user's role, name or time zone, or deactivate (owners and admins)",
                  tag=t, request=s.UpdateUserSchema, response=s.UserSchema, parameters=USER_ID,
                  extra_responses={409: "The last active owner can't be demoted or deactivated"})
    doc.operation("/v1/api-keys", "post", summary="Create an API key (the key is shown once)", tag=t,
                  request=s.ApiKeyInSchema, response=s.NewApiKeySchema, status=201, parameters=IDEMPOTENCY_HEADER)
    doc.operation("/v1/api-keys", "get", summary="List API keys (never the secret; owners and admins)", tag=t,
                  response=s.ApiKeySchema, list_of=True)
    doc.operation("/v1/api-keys/{key_id}", "delete", summary="Revoke an API key", tag=t, status=204,
                  parameters=[{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}])


def register(bp: Blueprint, db: Database, accounts: Accounts, keys: ApiKeys, router: Router,
             internal_tokens: TokenCache, docs: OpenApiCache, guard: Guard, users: UserStatus) -> None:
    tokens_out, user_out, key_out = s.TokensSchema(), s.UserSchema(), s.ApiKeySchema()
    verification_out, directory_out = s.EmailVerificationSchema(), s.DirectoryUserSchema()
    table = idempotency_table(metadata())
    # Sealed: these answers carry secrets (an API key, an invitation, tokens).
    once = idempotent(lambda: db, lambda: table, sealed=True)

    def refresh_token_of(data: dict[str, Any]) -> str:
        token = data["refresh_token"] or request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise validation_error({"refresh_token": ["Missing data for required field."]},
                                   "Send refresh_token, or the crm_refresh cookie of a sign-in with refresh_in_cookie.")
        return str(token)

    def tokens_answer(tokens: Any, in_cookie: bool) -> Response:
        """Tokens in the body, or the refresh token in an HttpOnly cookie that scripts never see."""
        body = tokens_out.dump(tokens)
        if not in_cookie:
            return json_response(body)
        refresh, body["refresh_token"] = body["refresh_token"], None
        resp = json_response(body)
        resp.headers["Cache-Control"] = "no-store"
        resp.set_cookie(REFRESH_COOKIE, refresh, max_age=int(accounts.refresh_max_age.total_seconds()),
                        path=REFRESH_COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=request.is_secure or request.headers.get("X-Forwarded-Proto") == "https")
        return resp

    @bp.post("/v1/signup")
    @idempotent(lambda: db, lambda: table, anonymous=True, sealed=True)
    def signup() -> Response:
        data = load(s.SignupSchema())
        with db.transaction() as session:
            body = s.SignupResultSchema().dump(accounts.signup(session, data))
        return json_response(body, 201)

    def mail_new_link(exc: UnverifiedAccount) -> None:
        """The right password on an account past its unverified grace: a fresh link (within the
        per-user budget) is the way back in, since it can't sign in to ask for one."""
        if guard.resend_allowed(exc.user_id):
            with db.transaction() as session:
                accounts.resend_verification(session, exc.user_id)

    @bp.post("/v1/auth/token")
    def token() -> Response:
        data = load(s.LoginSchema())
        guard.before_login(data["email"])
        try:
            with db.transaction() as session:
                tokens = accounts.login(session, data["email"], data["password"], data.get("tenant_id"))
        except UnverifiedAccount as exc:
            mail_new_link(exc)
            raise
        except Unauthorized:
            guard.login_failed(data["email"])
            guard.bad_credential()
            raise
        guard.login_succeeded(data["email"])
        return tokens_answer(tokens, data["refresh_in_cookie"])

    @bp.post("/v1/auth/logout")
    def logout() -> Response:
        data = load(s.RefreshSchema())
        token = refresh_token_of(data)
        with db.transaction() as session:
            accounts.logout(session, token)
        resp = Response(status=204)  # also for an unknown token: logging out twice is fine
        if REFRESH_COOKIE in request.cookies:
            resp.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="Strict")
        return resp

    @bp.post("/v1/auth/refresh")
    def refresh() -> Response:
        data = load(s.RefreshSchema())
        token = refresh_token_of(data)
        try:
            with db.transaction() as session:
                result = accounts.refresh(session, token, from_cookie=not data["refresh_token"])
        except UnverifiedAccount as exc:
            mail_new_link(exc)
            raise
        if result is None:  # the revocation is committed above; only now refuse
            raise Unauthorized("The refresh token was already used; sign in again.")
        return tokens_answer(result, data["refresh_in_cookie"])

    def verify_email(token: str, *, confirm: bool = True) -> dict[str, Any]:
        with db.transaction() as session:
            user = accounts.verify_email(session, token, confirm=confirm)
            return {"user_id": user.id, "email": user.email, "email_verified": is_verified(user)}

    def wants_html() -> bool:
        return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"

    @bp.post(VERIFY_PATH)
    def verify_email_post() -> Response:
        if request.mimetype == "application/x-www-form-urlencoded":  # the confirm page's form
            body = verification_out.dump(verify_email(_link_token(request.form.get("token", ""))))
            return Response(VERIFIED_PAGE.format(email=html.escape(body["email"])), mimetype="text/html")
        return json_response(verification_out.dump(verify_email(load(s.VerifyEmailSchema())["token"])))

    @bp.get(VERIFY_PATH)
    def verify_email_link() -> Response:
        """The emailed link. Mail scanners and link previews open every link in a message, so
        opening it only checks the token and asks to confirm; the POST verifies."""
        token = _link_token(request.args.get("token", ""))
        body = verification_out.dump(verify_email(token, confirm=False))
        if wants_html():
            if body["email_verified"]:
                return Response(VERIFIED_PAGE.format(email=html.escape(body["email"])), mimetype="text/html")
            return Response(CONFIRM_PAGE.format(email=html.escape(body["email"]), action=VERIFY_PATH,
                                                token=html.escape(token)), mimetype="text/html")
        return json_response(body)

    @bp.post(VERIFY_PATH + "/resend")
    def resend_verification() -> Response:
        principal = context.current_principal()
        assert principal is not None
        if principal.user_id is None:
            raise Forbidden("Only a signed-in user has an email address to verify (not an API key).")
        if not guard.resend_allowed(principal.user_id):
            raise TooManyRequests("Too many verification emails for this account; try again later.",
                                  headers={"Retry-After": "600"})
        with db.transaction() as session:
            user = accounts.resend_verification(session, principal.user_id)
            body = verification_out.dump({"user_id": user.id, "email": user.email, "email_verified": False})
        return json_response(body, 202)

    @bp.post(ACCEPT_PATH)
    def accept_invitation() -> Response:
        data = load(s.AcceptInvitationSchema())
        with db.transaction() as session:
            tokens = accounts.accept_invitation(session, data["invitation_token"], data["password"])
        return tokens_answer(tokens, data["refresh_in_cookie"])

    @bp.get("/v1/me")
    def me() -> Response:
        with db.transaction() as session:
            return json_response(s.MeSchema().dump(accounts.me(session)))

    @bp.patch("/v1/me")
    def update_me() -> Response:
        data = load(s.UpdateMeSchema())
        with db.transaction() as session:
            return json_response(s.MeSchema().dump(accounts.update_me(session, data)))

    @bp.post("/v1/users")
    @once
    def create_user() -> Response:
        data = load(s.NewUserSchema())
        with db.transaction() as session:
            user, invitation = accounts.create_user(session, data)
            body: dict[str, Any] = user_out.dump(user)
        if invitation:
            body["invitation_token"] = invitation
        return json_response(body, 201, {"Location": f"/v1/users/{body['id']}"})

    @bp.get("/v1/users")
    def list_users() -> Response:
        with db.transaction() as session:
            return json_response({"data": [user_out.dump(u) for u in accounts.list_users(session)], "next_cursor": None})

    @bp.get("/v1/users/directory")
    def user_directory() -> Response:
        with db.transaction() as session:
            listed = [directory_out.dump(u) for u in accounts.directory(session)]
        return json_response({"data": listed, "next_cursor": None})

    @bp.patch("/v1/users/<user_id>")
    def update_user(user_id: str) -> Response:
        data = load(s.UpdateUserSchema())
        uid = parse_uuid(user_id, "user")
        with db.transaction() as session:
            body = user_out.dump(accounts.update_user(session, uid, data))
        users.forget(uid)  # at once here; other gateway processes within CRM_USER_STATUS_TTL_SECONDS
        return json_response(body)

    @bp.post("/v1/api-keys")
    @once
    def create_key() -> Response:
        data = load(s.ApiKeyInSchema())
        with db.transaction() as session:
            key, secret = keys.create(session, data)
            body = {**key_out.dump(key), "key": secret}
        return json_response(body, 201, {"Location": f"/v1/api-keys/{body['id']}"})

    @bp.get("/v1/api-keys")
    def list_keys() -> Response:
        with db.transaction() as session:
            return json_response({"data": [key_out.dump(k) for k in keys.list(session)], "next_cursor": None})

    @bp.delete("/v1/api-keys/<key_id>")
    def revoke_key(key_id: str) -> Response:
        with db.transaction() as session:
            keys.revoke(session, parse_uuid(key_id, "API key"))
        return Response(status=204)

    @bp.get("/v1/openapi.json")
    def openapi() -> Response:
        return json_response(docs.document())

    @bp.get("/docs")
    def docs_page() -> Response:
        return Response(docs.html(), mimetype="text/html")

    def forward_request() -> Response:
        route = router.match(request.path)
        if route is None:
            raise NotFound(f"No API resource at {request.path}.")
        g.route_label = route.prefix
        principal = context.current_principal()
        assert principal is not None
        if not route.open:
            needed = f"{route.area}:{'read' if request.method == 'GET' else 'write'}"
            if needed not in principal.scopes:
                raise Forbidden(f"This credential lacks the {needed!r} scope.", required_scope=needed)
        # Minted for this one service (contacts refuses a token minted for tickets), and reused for
        # this principal for a while; the request id goes beside it, in X-Request-Id. On an open
        # route the principal is the public one (set by the authenticate hook).
        internal = {INTERNAL_HEADER: internal_tokens.token(principal, route.service),
                    "X-Request-Id": context.current_request_id() or ""}
        return router.forward(route, request, internal)

    @bp.route("/v1/<path:rest>", methods=FORWARDED_METHODS)
    def forward(rest: str) -> Response:
        return forward_request()

    for prefix in router.open_prefixes_outside_v1():
        bp.add_url_rule(prefix.rstrip("/") + "/<path:rest>", f"open_{prefix.strip('/').replace('/', '_')}",
                        lambda rest: forward_request(), methods=FORWARDED_METHODS)
