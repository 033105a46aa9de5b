"""The plumbing every dashboard view shares: rendering, sign-in and CSRF guards, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from monitor.casework import CaseworkError
from monitor.runtime import Runtime
from monitor.web.access import CaseNotFound, Forbidden
from monitor.web.render import make_environment
from monitor.web.security import CSRF_FIELD, Signed, csrf_ok, same_origin, signed_in
from monitor.web.users import PASSWORD_WORK, PasswordWork

Form = dict[str, str]
GetHandler = Callable[[Request, Signed], Response]
PostHandler = Callable[[Request, Signed, Form], Response]
Endpoint = Callable[[Request], Awaitable[Response]]
MAX_FORM_FIELDS = 50


class Web:
    """The runtime and the template environment, shared by every view."""

    def __init__(
        self,
        rt: Runtime,
        *,
        refresh_seconds: int = 10,
        password_work: PasswordWork = PASSWORD_WORK,
    ) -> None:
        self.rt = rt
        self.password_work = password_work
        self.env = make_environment(rt.clock)
        self.env.globals["refresh_seconds"] = refresh_seconds

    def render(
        self, request: Request, signed: Signed | None, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        body = self.env.get_template(name).render(
            request=request,
            me=signed.user if signed else None,
            csrf=signed.csrf if signed else "",
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def error(self, request: Request, signed: Signed | None, status: int, text: str) -> Response:
        return self.render(request, signed, "error.html", status, status_code=status, text=text)

    def get(self, handler: GetHandler) -> Endpoint:
        """A page for signed-in people; anyone else is sent to the login form."""

        def guarded(request: Request) -> Response:
            signed = signed_in(self.rt, request)
            if signed is None:
                return _to_login(request)
            return self._refusals(request, signed, lambda: handler(request, signed))

        async def endpoint(request: Request) -> Response:
            # Database work stays off the event loop.
            return await run_in_threadpool(guarded, request)

        return endpoint

    def post(self, handler: PostHandler) -> Endpoint:
        """A state change: signed in, same origin, and the session's CSRF token."""

        async def endpoint(request: Request) -> Response:
            # Who is asking first: a stranger's body is never read.
            signed = await run_in_threadpool(signed_in, self.rt, request)
            if signed is None:
                return _to_login(request)
            async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as data:
                form = {k: as_typed(v) for k, v in data.items() if isinstance(v, str)}
            if not same_origin(self.rt, request) or not csrf_ok(signed.csrf, form.get(CSRF_FIELD)):
                return self.error(request, signed, 403, "The form expired: reload and retry.")
            return await run_in_threadpool(
                self._refusals, request, signed, lambda: handler(request, signed, form)
            )

        return endpoint

    def _refusals(self, request: Request, signed: Signed, work: Callable[[], Response]) -> Response:
        try:
            return work()
        except Forbidden as exc:
            return self.error(request, signed, 403, str(exc))
        except CaseworkError as exc:
            return self.error(
                request, signed, 404 if isinstance(exc, CaseNotFound) else 400, str(exc)
            )


def as_typed(value: str) -> str:
    """A form field's text with the line breaks the person typed. Browsers send a text
    box's line breaks as CRLF, while the check as you type reads the box's LF: posted as
    sent, a reply the check passed counted one more character per line on X (refused
    over the limit), and an untouched multi-line draft was approved as edited."""
    return value.replace("\r\n", "\n")


def _to_login(request: Request) -> Response:
    # A form sent signed out is not carried out and its body is not kept: the sign-in
    # form says so (unsent=1), or a person without the page's script, whose typed text
    # nothing keeps, took the empty box they came back to for a reply posted.
    # A sign-out sent signed out got what it asked for: nothing to send again.
    asked = request.method in ("GET", "HEAD") or request.url.path == "/logout"
    unsent = "" if asked else "&unsent=1"
    return RedirectResponse(f"/login?next={quote(_return_to(request))}{unsent}", status_code=303)


def _return_to(request: Request) -> str:
    """Where to come back after signing in. A form's own path answers GET with 405, so a
    form sent with an expired session returns to the page it was on (local_path vets the
    Referer's path after login), or to the queue."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = urlsplit(request.headers.get("referer", ""))
    # Without the script (forgetDone) the page's address still holds the "done=" of the
    # form sent before this one: back there, it said "Done:" for this form, not carried
    # out.
    fields = parse_qsl(page.query, keep_blank_values=True)
    done = any(k == "done" for k, _ in fields)
    query = urlencode([(k, v) for k, v in fields if k != "done"]) if done else page.query
    return page.path + (f"?{query}" if query else "") if page.path else "/"


def local_path(target: str | None) -> str:
    """Where to go after login: only a path on this site (no //evil.example or scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
