"""Signing in and out, and the admin's user page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.web.access import Forbidden
from monitor.web.base import Endpoint, Form, Web, local_path
from monitor.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Signed,
    csrf_ok,
    delete_cookie,
    login_nonce,
    same_origin,
    set_cookie,
)
from monitor.web.sessions import close_session, open_session
from monitor.web.users import (
    ROLES,
    LoginRefused,
    PasswordWorkBusy,
    UserError,
    authenticate,
    create_user,
    list_users,
    unlock,
)

# When a sign-in refused as busy is worth trying again: the password checks ahead of it
# take a few tenths of a second each.
BUSY_RETRY_SECONDS = 5


def routes(web: Web) -> list[Route]:
    return [
        Route("/login", login_form(web), methods=["GET"]),
        Route("/login", login(web), methods=["POST"]),
        Route("/logout", web.post(lambda r, s, f: logout(web, r)), methods=["POST"]),
        Route("/admin/users", web.get(lambda r, s: users_page(web, r, s))),
        Route("/admin/users", web.post(lambda r, s, f: add_user(web, r, s, f)), methods=["POST"]),
        Route(
            "/admin/users/{name:str}/unlock",
            web.post(lambda r, s, f: unlock_user(web, r, s)),
            methods=["POST"],
        ),
    ]


def _login_page(
    web: Web,
    request: Request,
    status: int = 200,
    error: str = "",
    back: str | None = None,
    unsent: str | None = None,
) -> Response:
    """The sign-in form; ``back`` is where a refused form was to go (the form posts its
    next= as a field), else the address's next=. ``unsent`` likewise: "1" when a form
    sent after the session ended brought the person here (base._to_login)."""
    # The login form has no session yet; a nonce cookie echoed in the form stops another
    # site from signing a browser into an account of the attacker's (login CSRF).
    nonce = login_nonce(request)
    next_path = local_path(back if back is not None else request.query_params.get("next"))
    unsent = unsent if unsent is not None else request.query_params.get("unsent")
    response = web.render(
        request,
        None,
        "login.html",
        status,
        nonce=nonce,
        next_path=next_path,
        error=error,
        unsent=unsent == "1",
    )
    set_cookie(web.rt, request, response, LOGIN_COOKIE, nonce)
    return response


def login_form(web: Web) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return _login_page(web, request)

    return endpoint


def login(web: Web) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        async with request.form(max_files=0, max_fields=10) as data:
            form = {k: v for k, v in data.items() if isinstance(v, str)}
        nonce, back = request.cookies.get(LOGIN_COOKIE, ""), form.get("next", "/")
        unsent = form.get("unsent", "")  # said again on a refused sign-in
        if not same_origin(web.rt, request) or not csrf_ok(nonce, form.get("nonce")):
            expired = "The form expired: please sign in again."
            return _login_page(web, request, 403, expired, back, unsent)
        try:
            user = await run_in_threadpool(
                lambda: authenticate(
                    web.rt,
                    form.get("name", ""),
                    form.get("password", ""),
                    # Behind a proxy in web.trusted_proxies, uvicorn puts the client's own here.
                    address=request.client.host if request.client else "",
                    work=web.password_work,
                )
            )
        except LoginRefused as exc:
            return _login_page(web, request, 401, str(exc), back, unsent)
        except PasswordWorkBusy as exc:
            busy = _login_page(web, request, 503, str(exc), back, unsent)
            busy.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
            return busy
        # The session this browser presented ends, as on logout: signing in as someone
        # else must not leave a copy of the old cookie working for its remaining hours.
        presented = request.cookies.get(SESSION_COOKIE, "")[:200]
        if presented:
            await run_in_threadpool(close_session, web.rt, presented)
        token = await run_in_threadpool(open_session, web.rt, user)
        response = RedirectResponse(local_path(back), status_code=303)
        set_cookie(web.rt, request, response, SESSION_COOKIE, token)
        delete_cookie(web.rt, request, response, LOGIN_COOKIE)
        return response

    return endpoint


def logout(web: Web, request: Request) -> Response:
    # Deleting the row ends the session everywhere, not only in this browser's cookie jar.
    close_session(web.rt, request.cookies.get(SESSION_COOKIE, "")[:200])
    response = RedirectResponse("/login", status_code=303)
    delete_cookie(web.rt, request, response, SESSION_COOKIE)
    return response


def users_page(web: Web, request: Request, signed: Signed, error: str = "") -> Response:
    if not signed.user.at_least("admin"):
        raise Forbidden("managing users needs the admin role")
    return web.render(
        request,
        signed,
        "users.html",
        400 if error else 200,
        users=list_users(web.rt),
        roles=ROLES,
        teams=[t.name for t in web.rt.settings.teams],
        error=error,
    )


def add_user(web: Web, request: Request, signed: Signed, form: Form) -> Response:
    if not signed.user.at_least("admin"):
        raise Forbidden("managing users needs the admin role")
    teams = tuple(t for t in form.get("teams", "").replace(",", " ").split() if t)
    try:
        create_user(
            web.rt,
            form.get("name", ""),
            form.get("role", ""),
            form.get("password", ""),
            teams,
            actor=signed.user.name,
            work=web.password_work,
        )
    except UserError as exc:
        return users_page(web, request, signed, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


def unlock_user(web: Web, request: Request, signed: Signed) -> Response:
    if not signed.user.at_least("admin"):
        raise Forbidden("managing users needs the admin role")
    try:
        unlock(web.rt, request.path_params["name"], actor=signed.user.name)
    except UserError as exc:
        return users_page(web, request, signed, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)
