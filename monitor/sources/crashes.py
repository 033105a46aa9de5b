"""The HTTP answer a client library crashed on while building its own exception.

prawcore and tweepy read an error answer's body and headers to build their exceptions;
a body or header not of the shape they expect (a proxy's page, a garbled header) makes
them raise a plain ValueError, KeyError or TypeError instead, which carries no response.
The library's frame that was handling it still holds it, so the status can be named.
"""

from __future__ import annotations

from types import TracebackType

import requests


def response_crashed_on(exc: BaseException, package: str) -> requests.Response | None:
    """The innermost ``response`` a frame of ``package`` held when ``exc`` went through
    it; None if ``exc`` did not come from handling one (then it is a bug: let it go on)."""
    found = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        response = frame.f_locals.get("response")
        module = str(frame.f_globals.get("__name__", ""))
        in_package = module == package or module.startswith(package + ".")
        if in_package and isinstance(response, requests.Response):
            found = response
        tb = tb.tb_next
    return found
