"""The social team's pages: queue, case, reports, health."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor import casework, casework_drafts, casework_replies, triage
from monitor.cases import OPEN_STATES
from monitor.csvexport import csv_text
from monitor.domain import Label, Platform, Priority
from monitor.ingest import is_stopped
from monitor.rules.reload import read_rules_state
from monitor.runtime import Runtime
from monitor.textlength import REPLY_LIMITS, posted_length
from monitor.web.access import CaseNotFound, Forbidden, check_access
from monitor.web.base import Endpoint, Form, Web
from monitor.web.case_view import load_case
from monitor.web.charts import bars, stacked_columns
from monitor.web.health import load_health, requeued
from monitor.web.operations import OPERATIONS, perform
from monitor.web.params import whole_number
from monitor.web.queue import FILTER_CHOICES, QueueFilter, load_queue
from monitor.web.reports import MAX_DAYS, Report, build_report, csv_rows, window_days
from monitor.web.security import CSRF_HEADER, Signed, csrf_ok, same_origin, signed_in
from monitor.web.since_shown import NothingChanged

LABELS = [label.value for label in Label]
MAX_CHECK_BYTES = 64_000


def routes(web: Web) -> list[Route]:
    post = ["POST"]
    return [
        Route("/", web.get(lambda r, s: queue(web, r, s))),
        Route("/queue/live", web.get(lambda r, s: queue(web, r, s, partial=True))),
        Route("/cases/{ref:str}", web.get(lambda r, s: case_page(web, r, s))),
        Route("/cases/{ref:str}/check", check_endpoint(web), methods=post),
        Route(
            "/cases/{ref:str}/{op:str}", web.post(lambda r, s, f: act(web, r, s, f)), methods=post
        ),
        Route("/reports", web.get(lambda r, s: reports(web, r, s))),
        Route("/reports.csv", web.get(lambda r, s: reports_csv(web, r))),
        Route("/health", web.get(lambda r, s: health(web, r, s))),
        Route("/actions/{id:id}/retry", web.post(lambda r, s, f: retry(web, r, s)), methods=post),
    ]


def queue(web: Web, request: Request, signed: Signed, *, partial: bool = False) -> Response:
    f = QueueFilter.from_params(request.query_params)
    return web.render(
        request,
        signed,
        "queue_live.html" if partial else "queue.html",
        page=load_queue(web.rt, signed.user, f),
        f=f,
        teams=[t.name for t in web.rt.settings.teams],
        states=FILTER_CHOICES["state"],
        open_states=sorted(OPEN_STATES),
        platforms=FILTER_CHOICES["platform"],
        labels=FILTER_CHOICES["sentiment"],
        rules_broken=[] if partial else rules_notices(web.rt),
    )


def rules_notices(rt: Runtime) -> list[str]:
    """What is wrong with the rule files: their load when this process started, and the
    daemon's last rejected reload (which leaves its last good rules running)."""
    notices = []
    if rt.rules is None:
        notices.append(
            f"The rule files did not load when this dashboard started: {rt.rules_problem()}. "
            "Cases can be worked as usual; knowledge-base answers are unavailable until the "
            "files are fixed (the dashboard looks again every 30 seconds)."
        )
    with rt.sessions() as session:
        state = read_rules_state(session)
    if state is not None and state[1]:
        first, *more = state[1].splitlines()
        rest = f" (and {len(more)} more lines, see Health)" if more else ""
        notices.append(
            f"The daemon rejected the changed rule files and runs its last good rules: {first}"
            + rest
        )
    return notices


def case_page(
    web: Web,
    request: Request,
    signed: Signed,
    *,
    error: str = "",
    form: Form | None = None,
    notice: str = "",
    sent: str = "reply",
) -> Response:
    ref = request.path_params["ref"]
    check_access(web.rt, signed.user, ref)
    data = load_case(web.rt, ref, signed.user)
    picked = request.query_params.get("answer", "")[:64]
    if picked and not form and not error:
        try:  # a knowledge-base entry as the starting point of the reply
            form = {"text": casework_replies.answer_prefill(web.rt, ref, picked), "answer": picked}
        except casework.CaseworkError as exc:
            error = str(exc)
    done_op = request.query_params.get("done", "")
    done = OPERATIONS.get(done_op)
    done_text = done.done if done and not error and not notice else ""
    return web.render(
        request,
        signed,
        "case.html",
        400 if error else 200,
        **data,
        done=done_text,
        notice=notice,
        # The form whose text the server took (done, or a notice that it was already):
        # the case page's script forgets the copy of it it kept in the browser tab.
        settled=done_op if done_text else sent if notice else "",
        error=error,
        form=form or {},
        # Which form ``form`` came from: the reply, note and draft boxes all send "text",
        # and only that form's box may show it again (a refused note in the reply box
        # was one click from being posted to the customer).
        sent=sent,
        limit=REPLY_LIMITS[Platform(data["platform"])],
        teams=[t.name for t in web.rt.settings.teams],
        priorities=[p.value for p in Priority],
        correctable=triage.CORRECTABLE,
        operations=OPERATIONS,
        answers=_answer_ids(web.rt),
        rules_problem="" if web.rt.rules else web.rt.rules_problem(),
    )


def _answer_ids(rt: Runtime) -> list[str]:
    answers = rt.rules.answers if rt.rules else None
    # Only the entries the bot would use today: not out of their dates, not superseded.
    return [e.id for e in answers.kb.in_force(rt.clock.now())] if answers else []


def act(web: Web, request: Request, signed: Signed, form: Form) -> Response:
    ref, op = request.path_params["ref"], request.path_params["op"]
    try:
        perform(web.rt, signed.user, op, ref, form)
    except (CaseNotFound, Forbidden):
        raise
    except (casework.AlreadyQueued, casework.AlreadyNoted, NothingChanged) as exc:
        # A double submit, or a colleague was first: the case is as asked, so say so.
        # The message is worded for "error: ..." on the command line; here it starts
        # the line.
        text = str(exc)
        return case_page(web, request, signed, notice=text[:1].upper() + text[1:], sent=op)
    except casework.CaseworkError as exc:
        # Show the refusal on the case page, with what the person typed kept.
        return case_page(web, request, signed, error=str(exc), form=form, sent=op)
    return RedirectResponse(f"/cases/{ref}?done={op}", status_code=303)


def check_endpoint(web: Web) -> Endpoint:
    """Checks the reply box as the person types: JSON in, problems out."""

    def platform_of(request: Request) -> ReplyTarget | Response:
        """What the box's text is checked against, or the refusal; before the body is
        read."""
        signed = signed_in(web.rt, request)
        if signed is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        token = request.headers.get(CSRF_HEADER)
        if not same_origin(web.rt, request) or not csrf_ok(signed.csrf, token):
            return JSONResponse({"error": "bad CSRF token"}, status_code=403)
        ref = request.path_params["ref"]
        try:
            check_access(web.rt, signed.user, ref)
            return load_reply_target(web, ref, request.query_params)
        except CaseNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except Forbidden as exc:  # as the case page and the API answer it
            return JSONResponse({"error": str(exc)}, status_code=403)

    def check(target: ReplyTarget, text: str) -> Response:
        platform, markdown = Platform(target.platform), target.markdown
        # The draft as drafted is approved without a check (casework_drafts.approve): its
        # rule's text, maybe allowed to redirect; warned about, its Approve button was
        # locked.
        unedited = target.drafted is not None and text.strip() == target.drafted
        problems = (
            []
            if unedited
            else casework.check_reply(
                target.platform, text, customer=target.customer, markdown=markdown
            )
        )
        length = posted_length(platform, text, markdown=markdown)  # as the platform counts
        return JSONResponse(
            {"problems": problems, "length": length, "limit": REPLY_LIMITS[platform]}
        )

    async def endpoint(request: Request) -> Response:
        target = await run_in_threadpool(platform_of, request)
        if isinstance(target, Response):
            return target
        body = await request.body()
        text = body[:MAX_CHECK_BYTES].decode("utf-8", errors="replace")
        return await run_in_threadpool(check, target, text)

    return endpoint


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What a reply box's text is checked against."""

    platform: str
    customer: str  # the handle replied to: naming them is no redirect
    markdown: bool  # posted to Reddit as written (casework_replies.posted_as_markdown)
    drafted: str | None = None  # the text of the draft the box edits, as drafted


def load_reply_target(web: Web, ref: str, params: Mapping[str, str]) -> ReplyTarget:
    """The case's reply target. The page's check address names the draft a box edits
    (``draft``) or the entry a reply started from (``answer``): measured escaped, such a
    text was warned about while the submit, which posts it as written, accepted it."""
    with web.rt.sessions() as session:
        case = casework.find_case(session, ref)
        markdown = casework_replies.posted_as_markdown(
            web.rt,
            session,
            case,
            draft_id=params.get("draft", ""),
            answer_id=params.get("answer", "")[:64],
        )
        drafted = casework_drafts.waiting_draft_text(session, case, params.get("draft", ""))
        customer = casework.customer_handle(session, case)
        return ReplyTarget(case.platform, customer, markdown, drafted)


def _days(request: Request) -> int:
    return whole_number(request.query_params.get("days", ""), 30, 1, MAX_DAYS)


def reports(web: Web, request: Request, signed: Signed) -> Response:
    report = build_report(web.rt, _days(request))
    return web.render(request, signed, "reports.html", report=report, charts=charts(report))


def charts(report: Report) -> dict[str, Any]:
    by_label: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_platform: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, platform, label, n in report.volume:
        by_label[day][label] += n
        by_platform[day][platform] += n
    # Every day of the window (in web.report_timezone), as the volume counts them: a day
    # without messages is a zero column, not left out, where the gap would not show.
    days = sorted({*window_days(report), *by_label.keys()})
    per_day = f"Inbound messages per {report.timezone} day"

    def timings(title: str, rows: list[Any]) -> Any:
        items = [(f"{t.group} median", t.median) for t in rows]
        items += [(f"{t.group} p90", t.p90) for t in rows]
        return bars(title, sorted(items), " min")

    return {
        "sentiment": stacked_columns(
            f"{per_day} by sentiment", [(d, by_label[d]) for d in days], LABELS
        ),
        "platform": stacked_columns(
            f"{per_day} by platform",
            [(d, by_platform[d]) for d in days],
            [p.value for p in Platform],
        ),
        "first_response": timings("First response (minutes)", report.first_response),
        "resolution": timings("Resolution (minutes)", report.resolution),
        "sla": bars("SLA attainment", [(a.team, a.percent) for a in report.sla], "%"),
        "tags": bars("Top tags", [(tag, float(n)) for tag, n in report.top_tags]),
    }


def reports_csv(web: Web, request: Request) -> Response:
    report = build_report(web.rt, _days(request))
    headers = {"content-disposition": f'attachment; filename="inchannel-report-{report.days}d.csv"'}
    return Response(
        csv_text(csv_rows(report)), media_type="text/csv; charset=utf-8", headers=headers
    )


def health(web: Web, request: Request, signed: Signed) -> Response:
    retried = requeued(web.rt, signed.user, request.query_params.get("retried", ""))
    found = load_health(web.rt, signed.user)
    # A permanent error parks the next poll years ahead: "stopped", as `status` says.
    now = web.rt.clock.now()
    stopped = {s.name for s in found.sources if is_stopped(s.next_poll_at, now)}
    return web.render(
        request, signed, "health.html", health=found, retried=retried, stopped=stopped
    )


def retry(web: Web, request: Request, signed: Signed) -> Response:
    if not signed.user.at_least("lead"):
        raise Forbidden("retrying a dead action needs the lead role")
    action_id = request.path_params["id"]
    # A double click: the action was retried, as asked, so no error page.
    with contextlib.suppress(triage.AlreadyRetried):
        triage.retry_action(web.rt, action_id, user=signed.user.name)
    return RedirectResponse(f"/health?retried={action_id}", status_code=303)
