"""The social team's day in a real browser: sign in, find and work cases, stay safe."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from monitor import casework_actions, casework_replies
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.sources.replay import ReplaySource
from monitor.store.db import transaction
from monitor.store.models import ActionRow
from tests.browser.conftest import SCREENSHOTS, sign_in, sync_api
from tests.conftest import mention, write_jsonl
from tests.webkit import PASSWORD, sample_rows

expect = sync_api.expect


def test_lead_replies_approves_and_resolves(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.fill("input[name=q]", "48213")
    page.click("form.filters button[type=submit]")
    page.click("text=C-1001")
    page.wait_for_url("**/cases/C-1001")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)
    box = page.locator("section.reply textarea")
    box.fill("x" * 281)
    # Checked as the person types: the server's answer appears and the button locks.
    page.locator("section.reply .problems li").wait_for()
    assert page.locator("section.reply .problems li").inner_text() == "281 characters: x allows 280"
    assert page.locator("section.reply button").is_disabled()
    box.fill("Sorry Jane, a replacement ships today and we'll post the tracking here.")
    expect(page.locator("section.reply button")).to_be_enabled()
    page.click("section.reply button")
    page.wait_for_selector("text=Done: Reply queued for posting.")
    page.goto("/cases/C-1015")
    page.fill("section.draft textarea", "Yes, we ship to Ireland: 3-5 days.")
    page.click("section.draft button:has-text('Approve and post')")
    page.wait_for_selector("text=Done: Draft approved and queued for posting.")
    page.goto("/cases/C-1001")
    page.click("button:has-text('Resolve')")
    page.wait_for_selector("h1 .pill:has-text('resolved')")


def test_new_cases_appear_in_the_queue_without_a_reload(new_page: Any, runtime: Runtime) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)
    assert page.locator("text=wet_will").count() == 0
    leak = mention(99, "@acme my kettle leaks everywhere, awful", author="wet_will")
    # The replay source reads its file once; a new one stands for the platform's next page.
    feed = write_jsonl(runtime.settings.base_dir / "more.jsonl", [*sample_rows(), leak])
    runtime.sources["feed"] = ReplaySource("feed", feed, page_size=50)
    runtime.clock.advance(minutes=5)  # type: ignore[attr-defined]
    run_cycle(runtime)
    expect(page.locator("#queue-live")).to_contain_text("wet_will", timeout=10_000)


def test_hostile_mention_renders_as_text(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1022")
    text = page.locator("article.message p.text").first.inner_text()
    assert "<script>alert('x')</script>" in text
    assert page.locator("article.message script").count() == 0


def test_agent_cannot_open_another_teams_case_or_admin_pages(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "alice", PASSWORD)
    assert page.locator("a[href='/cases/C-1005']").count() == 0
    refused = page.goto("/cases/C-1005")
    assert refused is not None
    assert refused.status == 403
    assert "belongs to team billing" in page.inner_text("main")
    admin = page.goto("/admin/users")
    assert admin is not None
    assert admin.status == 403
    assert page.locator("nav a:has-text('Users')").count() == 0


def test_a_late_check_answer_never_overwrites_a_newer_one(new_page: Any) -> None:
    # A slow answer about text typed earlier ("281 characters: x allows 280") came in
    # after the answer about the corrected text, showed the old problem again and locked
    # the button. The route holds the first check back to make it the late one.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/cases/C-1001/check", hold_first)
    box = page.locator("section.reply textarea")
    with page.expect_request("**/cases/C-1001/check"):
        box.fill("x" * 281)
    with page.expect_event("requestfailed", timeout=5_000) as cancelled:
        box.fill("Sorry Jane, a replacement ships today.")
    assert cancelled.value.url.endswith("/cases/C-1001/check")
    expect(page.locator("section.reply button")).to_be_enabled()
    expect(page.locator("section.reply .problems li")).to_have_count(0)


def test_the_queue_refresh_keeps_the_keyboard_focus_and_a_selection(new_page: Any) -> None:
    # Every refresh replaced the rows, changed or not: a person tabbing through the cases
    # was thrown back to the top of the page every few seconds, and text they selected
    # to copy (a handle, a ref) was unselected.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    link = page.locator("#queue-live a[href='/cases/C-1010']")
    link.focus()
    page.evaluate(
        """() => {
        const cell = document.querySelector("#queue-live td.author bdi");
        getSelection().selectAllChildren(cell);
    }"""
    )
    selected = page.evaluate("() => getSelection().toString()")
    assert selected
    # Two refreshes answered: the first one's rows are in place when the second is asked.
    for _ in range(2):
        with page.expect_response("**/queue/live*"):
            pass
    with page.expect_request("**/queue/live*"):
        pass
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "/cases/C-1010"
    assert page.evaluate("() => getSelection().toString()") == selected


def test_a_new_case_arriving_leaves_the_focus_on_the_case_it_was_on(
    new_page: Any, runtime: Runtime
) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.locator("#queue-live a[href='/cases/C-1010']").focus()
    leak = mention(99, "@acme my kettle leaks everywhere, awful", author="wet_will")
    feed = write_jsonl(runtime.settings.base_dir / "more.jsonl", [*sample_rows(), leak])
    runtime.sources["feed"] = ReplaySource("feed", feed, page_size=50)
    runtime.clock.advance(minutes=5)  # type: ignore[attr-defined]
    run_cycle(runtime)
    expect(page.locator("#queue-live")).to_contain_text("wet_will", timeout=10_000)
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "/cases/C-1010"


def test_long_unbroken_words_in_the_side_column_wrap(new_page: Any, runtime: Runtime) -> None:
    # A platform's error naming a long URL, or a note holding one, in the case page's
    # narrow side column pushed the page wider than the window.
    word = "https://example.com/" + "a" * 180
    with transaction(runtime.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.case_id == 1).values(last_error=word))
    casework_actions.add_note(runtime, "C-1001", f"tracking: {word}", user="lena")
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    assert page.locator("aside td.error").first.inner_text() == word
    wide = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert wide[0] <= wide[1]


def test_a_slow_queue_refresh_is_not_overlapped_by_the_next(new_page: Any) -> None:
    # The refresh ran every second (here) whether or not the last one had answered: on a
    # slow server the requests piled up, and an older answer could replace newer rows.
    page = new_page()
    page.clock.install()
    page.add_init_script(
        """{
        window.asked = 0;
        const fetchAsIs = window.fetch;
        window.fetch = (url, ...rest) => {
            if (String(url).startsWith("/queue/live")) window.asked += 1;
            return fetchAsIs(url, ...rest);
        };
    }"""
    )
    sign_in(page, "lena", PASSWORD)
    held: list[Any] = []

    def hold(route: Any) -> None:  # the first one only
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/queue/live*", hold)
    with page.expect_request("**/queue/live*"):
        page.clock.run_for(1_000)
    page.clock.run_for(10_000)  # ten more seconds with the first still unanswered
    assert page.evaluate("() => window.asked") == 1
    with page.expect_response("**/queue/live*"):
        held[0].continue_()
    for _ in range(50):  # the answer's rows are put in place before the next is asked
        page.clock.run_for(1_000)
        if page.evaluate("() => window.asked") == 2:
            break
    assert page.evaluate("() => window.asked") == 2


def test_a_session_that_ended_says_so_on_the_queue(new_page: Any, runtime: Runtime) -> None:
    # Sessions end 12 hours after sign-in; the queue's refresh was then sent to the login
    # form and the script ignored it, so late in a shift the queue stopped updating with
    # nothing on screen to say so.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/?sentiment=negative")
    notice = page.locator("#signed-out")
    with page.expect_response("**/queue/live*"):
        pass
    assert notice.count() == 0
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    expect(notice).to_have_text("Signed out: sign in again", timeout=10_000)
    link = notice.locator("a")
    assert link.get_attribute("href") == "/login?next=%2F%3Fsentiment%3Dnegative"
    # Signed in again in another tab: the queue updates again and the notice goes.
    sign_in(page.context.new_page(), "lena", PASSWORD)
    expect(notice).to_have_count(0, timeout=10_000)
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    link.click()
    page.fill("input[name=name]", "lena")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/?sentiment=negative")


def sign_in_again(page: Any, name: str, to: str) -> None:
    """The login form a form sent after the session ended lands on, back to ``to``."""
    page.wait_for_url(lambda url: "/login?next=" in url)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{to}")


def test_a_reply_typed_as_the_session_ends_is_kept_in_its_box(
    new_page: Any, runtime: Runtime
) -> None:
    # Sessions end 12 hours after sign-in, and a form sent after that goes to the login
    # form without its body: a reply typed on a case page left open late in a shift was
    # lost, and the note beside it with it.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    reply = "Sorry Jane, a replacement ships today and we'll post the tracking here."
    page.fill("section.reply textarea", reply)
    page.fill("textarea[name=text] >> nth=-1", "called her back")  # the internal note
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    page.click("section.reply button")
    sign_in_again(page, "lena", "/cases/C-1001")
    expect(page.locator("section.reply textarea")).to_have_value(reply)
    expect(page.locator("aside textarea[name=text]")).to_have_value("called her back")
    expect(page.locator("section.reply .kept")).to_have_text("Kept from before: not posted yet.")
    # Posted now: the kept copy goes, so the next visit shows an empty box.
    page.click("section.reply button")
    page.wait_for_selector("text=Done: Reply queued for posting.")
    page.goto("/cases/C-1001")
    expect(page.locator("section.reply textarea")).to_have_value("")
    expect(page.locator("aside textarea[name=text]")).to_have_value("called her back")
    expect(page.locator("section.reply .kept")).to_have_count(0)
    # Someone else signing in on this tab does not get lena's words.
    page.click("header form.logout button")
    sign_in(page, "root", PASSWORD)
    page.goto("/cases/C-1001")
    expect(page.locator("aside textarea[name=text]")).to_have_value("")


def test_a_posted_reply_clears_what_was_kept(new_page: Any, runtime: Runtime) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    page.fill("section.reply textarea", "Sorry Jane, a replacement ships today.")
    page.click("section.reply button")
    page.wait_for_selector("text=Done: Reply queued for posting.")
    # The page the reply came back to says "done" once: a second reply typed there and
    # sent after the session ended comes back after sign-in, neither cleared by that old
    # "done" nor under a "Done:" it never had.
    assert "done=" not in page.url
    page.reload()
    expect(page.locator("section.reply textarea")).to_have_value("")
    expect(page.locator("p.done")).to_have_count(0)
    page.fill("section.reply textarea", "And a voucher for the wait.")
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    page.click("section.reply button")
    sign_in_again(page, "lena", "/cases/C-1001")
    expect(page.locator("section.reply textarea")).to_have_value("And a voucher for the wait.")
    expect(page.locator("p.done")).to_have_count(0)


def test_an_edited_draft_typed_as_the_session_ends_is_kept(new_page: Any, runtime: Runtime) -> None:
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1015")
    edit = "Yes, we ship to Ireland: 3-5 days."
    page.fill("section.draft textarea", edit)
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    page.click("section.draft button:has-text('Approve and post')")
    sign_in_again(page, "lena", "/cases/C-1015")
    expect(page.locator("section.draft textarea")).to_have_value(edit)
    page.click("section.draft button:has-text('Approve and post')")
    page.wait_for_selector("text=Done: Draft approved and queued for posting.")
    # The approved draft's box is gone, and its edit does not turn up anywhere else.
    expect(page.locator("section.reply textarea")).to_have_value("")
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_reply_box_says_when_the_session_has_ended(new_page: Any, runtime: Runtime) -> None:
    # The check as you type was answered 401 once the session ended and the script kept
    # quiet: the person wrote on, to find the login form only when posting.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    box = page.locator("section.reply textarea")
    with page.expect_response("**/cases/C-1001/check"):
        box.fill("Sorry Jane,")
    notice = page.locator("#signed-out")
    assert notice.count() == 0
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    with page.expect_response("**/cases/C-1001/check"):
        box.fill("Sorry Jane, a replacement ships today.")
    expect(notice).to_have_text("Signed out: sign in again")
    assert notice.locator("a").get_attribute("href") == "/login?next=%2Fcases%2FC-1001"
    notice.locator("a").click()
    sign_in_again(page, "lena", "/cases/C-1001")
    expect(box).to_have_value("Sorry Jane, a replacement ships today.")


def test_a_reply_kept_across_sign_in_still_warns_of_a_colleagues_answer(
    new_page: Any, runtime: Runtime
) -> None:
    # The kept reply came back on a page loaded after signing in again, whose counts
    # already included a colleague's answer sent meanwhile: posted at once, it went out
    # beside that answer without the "answered after your page showed it" refusal.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1001")
    page.fill("section.reply textarea", "Sorry Jane, a replacement ships today.")
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    page.click("section.reply button")
    page.wait_for_url(lambda url: "/login?next=" in url)
    casework_replies.reply(runtime, "C-1001", "Jane, your refund is on its way.", user="alice")
    sign_in_again(page, "lena", "/cases/C-1001")
    expect(page.locator("section.reply textarea")).to_have_value(
        "Sorry Jane, a replacement ships today."
    )
    page.click("section.reply button")
    expect(page.locator("p.error")).to_contain_text("was answered by alice after your page")
    # Refused with the text kept; the page now shows the answer, so a second post sends it.
    expect(page.locator("section.reply textarea")).to_have_value(
        "Sorry Jane, a replacement ships today."
    )
    page.click("section.reply button")
    page.wait_for_selector("text=Done: Reply queued for posting.")


def test_an_edit_kept_across_sign_in_still_warns_of_a_customers_new_message(
    new_page: Any, runtime: Runtime
) -> None:
    # As the reply above: the draft's edit came back under the new page's message count,
    # so a customer's follow-up written meanwhile went unread.
    page = new_page()
    sign_in(page, "lena", PASSWORD)
    page.goto("/cases/C-1015")
    page.fill("section.draft textarea", "Yes, we ship to Ireland: 3-5 days.")
    runtime.clock.advance(hours=12, seconds=1)  # type: ignore[attr-defined]
    page.click("section.draft button:has-text('Approve and post')")
    page.wait_for_url(lambda url: "/login?next=" in url)
    follow_up = mention(
        98,
        "@acme actually, to Northern Ireland: is that the UK price?",
        author="claire_d",
        author_id="90",
        conversation_id="1859000000000000018",
        in_reply_to="1859000000000000018",
        created_at="2026-11-20T09:20:00Z",
    )
    feed = write_jsonl(runtime.settings.base_dir / "more.jsonl", [*sample_rows(), follow_up])
    runtime.sources["feed"] = ReplaySource("feed", feed, page_size=50)
    run_cycle(runtime)
    sign_in_again(page, "lena", "/cases/C-1015")
    expect(page.locator("section.draft textarea")).to_have_value(
        "Yes, we ship to Ireland: 3-5 days."
    )
    page.click("section.draft button:has-text('Approve and post')")
    expect(page.locator("p.error")).to_contain_text("the draft was not approved")
