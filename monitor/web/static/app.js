// inchannel dashboard: the only script, served from 'self' under a strict CSP.
// It never inserts strangers' text as HTML except the server-rendered (escaped) queue.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Queue: refresh the live region every few seconds, so new cases appear without a reload.
// The next refresh is timed from the end of the last: on a fixed interval a slow server
// got a new request before it had answered the last, they piled up, and an older answer
// could replace newer rows. A request that never answers is given up after a while, or
// the queue would stop refreshing for good.
function startQueueRefresh(region) {
  const every = Math.max(1, Number(region.dataset.every) || 10) * 1000;
  const refresh = async () => {
    try {
      if (!document.hidden) {
        const response = await fetch(region.dataset.refresh, {
          credentials: "same-origin",
          signal: AbortSignal.timeout(Math.max(30_000, every)),
        });
        if (response.redirected && new URL(response.url).pathname === "/login") {
          showSignedOut(region);
        } else if (response.ok && !response.redirected) {
          document.getElementById("signed-out")?.remove(); // signed in again elsewhere
          replaceRows(region, await response.text());
        }
      }
    } catch (error) {
      // Offline for a moment, or given up: keep the rows shown and try again next time.
    } finally {
      setTimeout(refresh, every);
    }
  };
  setTimeout(refresh, every);
}

// A session ends 12 hours after sign-in, and the refresh is then sent to the login form:
// ignored, the queue stopped updating late in a shift with nothing on screen to say so.
// The refresh goes on asking, so a sign-in in another tab brings the queue back. The
// reply check says the same above its form.
function showSignedOut(region) {
  if (document.getElementById("signed-out")) return;
  const notice = document.createElement("p");
  notice.id = "signed-out";
  notice.className = "error";
  notice.setAttribute("role", "alert");
  const link = document.createElement("a");
  // Back to this page, filters and all, not to the refresh's own address.
  link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  link.textContent = "sign in again";
  notice.append("Signed out: ", link);
  region.before(notice);
}

// Replacing the rows throws away the keyboard focus and any selection in them: a person
// tabbing through the cases went back to the top every few seconds, one copying a handle
// lost it. So rows that did not change are left alone, rows someone is selecting wait for
// the next refresh, and the focused link is focused again in the new rows.
function replaceRows(region, html) {
  const fresh = document.createElement("template"); // inert: nothing loads or runs
  fresh.innerHTML = html;
  if (fresh.innerHTML.trim() === region.innerHTML.trim()) return;
  const selection = document.getSelection();
  if (selection && !selection.isCollapsed && region.contains(selection.anchorNode)) return;
  const focused = region.contains(document.activeElement)
    ? document.activeElement.getAttribute("href")
    : null;
  region.replaceChildren(fresh.content);
  if (focused === null) return;
  const again = [...region.querySelectorAll("a[href]")].find(
    (link) => link.getAttribute("href") === focused,
  );
  if (again) again.focus();
}

// Reply boxes: count characters and ask the server what is wrong as the person types.
function startReplyCheck(box) {
  const form = box.form;
  const problems = form.querySelector(".problems");
  const count = form.querySelector(".count");
  const button = form.querySelector('button[type="submit"]');
  let timer = null;
  let pending = null; // the check on its way, to be cancelled by a newer one
  const show = (items) => {
    problems.replaceChildren(...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    button.disabled = items.length > 0 || form.dataset.sent === "1";
  };
  const check = async () => {
    // Only the answer about the text as it is now may show: an older request answered
    // late put back that text's problems (and locked or freed the button) over this one's.
    if (pending) pending.abort();
    const mine = new AbortController();
    pending = mine;
    let found;
    try {
      const response = await fetch(box.dataset.check, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "text/plain;charset=utf-8" },
        body: box.value,
        signal: mine.signal,
      });
      // The session ended (12 hours after sign-in): said at once, not on posting; the
      // text typed is kept in the tab (keepTyped) for after signing in again. The notice
      // stays after a sign-in elsewhere: this page's form holds the old session's CSRF
      // token, and only a page loaded again can post.
      if (response.status === 401) showSignedOut(form);
      if (!response.ok) return;
      found = await response.json();
    } catch (error) {
      return; // cancelled by a newer check, or offline: the next keystroke asks again
    }
    if (pending !== mine) return;
    pending = null;
    show(found.problems);
    // The platform's own count (X weighs CJK double and links as 23), not the browser's.
    if (count) count.textContent = String(found.length);
  };
  box.addEventListener("input", () => {
    if (count) count.textContent = String(box.value.trim().length);
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  if (count) count.textContent = String(box.value.trim().length);
}

// Forms that change something: one submit per click. A double click would send a reply
// twice (the server refuses the repeat too; this spares the person the surprise).
function guardSubmit(form) {
  form.addEventListener("submit", () => {
    form.dataset.sent = "1";
    form.querySelectorAll('button[type="submit"]').forEach((button) => {
      button.disabled = true;
    });
  });
}

// Back to a page kept in the browser's cache: its forms may be sent again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll('form[method="post"]').forEach((form) => {
    delete form.dataset.sent;
    form.querySelectorAll('button[type="submit"]').forEach((button) => {
      button.disabled = false;
    });
  });
});

// A case page's text boxes are kept in this tab's sessionStorage as the person types. A
// form sent after the session ended (12 hours after sign-in) goes to the login form
// without its body, and a reply typed late in a shift was lost. Only the browser tab
// holds the copy (never the server, never an address); it is keyed by user and case, so
// someone else signing in on the tab does not get it, and dropped once the server says
// the text was taken, or on signing out.
const KEPT = "inchannel:kept:";

// The counts a case form sends back (replies and customer messages its page showed), so
// the server can refuse an answer written without seeing a colleague's reply or the
// customer's new message. Kept with the text: a copy put back on a page loaded after
// signing in again went out under that page's newer counts, and the refusal never came.
const SHOWN = ["replies", "messages"];

function shownCounts(form) {
  const counts = {};
  for (const name of SHOWN) {
    const field = form?.querySelector(`input[type="hidden"][name="${name}"]`);
    if (field) counts[name] = field.value;
  }
  return counts;
}

// Storage may be refused (a browser set to keep no site data) or full: the box then
// works as it did without a copy, and the rest of the page's script still runs.
function keep(key, text, form) {
  try {
    if (text) sessionStorage.setItem(key, JSON.stringify({ text, shown: shownCounts(form) }));
    else sessionStorage.removeItem(key);
  } catch (error) {
    // nothing kept
  }
}

// A copy as keep() stores it; a bare string is one kept by the script before the counts
// were (a tab open across an upgrade), put back without them.
function readKept(key) {
  const stored = sessionStorage.getItem(key);
  if (stored === null) return null;
  try {
    const found = JSON.parse(stored);
    if (found && typeof found.text === "string") return { text: found.text, shown: found.shown ?? {} };
  } catch (error) {
    // not JSON: an older copy
  }
  return { text: stored, shown: {} };
}

function keepTyped(page) {
  const prefix = KEPT + page.dataset.keepCase + "/";
  const settled = document.querySelector("[data-settled]")?.dataset.settled;
  // The "done" after a reply or note, or "queued already": the server has the text.
  if (settled === "reply" || settled === "note") sessionStorage.removeItem(prefix + settled);
  const boxes = [...document.querySelectorAll("textarea[data-keep]")];
  // A draft no longer waiting was approved (its edit posted) or settled by a colleague:
  // its edit is not put anywhere else, where it could be posted a second time.
  const shown = new Set(boxes.map((box) => prefix + box.dataset.keep));
  Object.keys(sessionStorage)
    .filter((key) => key.startsWith(prefix + "draft-") && !shown.has(key))
    .forEach((key) => sessionStorage.removeItem(key));
  const restored = [];
  for (const box of boxes) {
    const key = prefix + box.dataset.keep;
    const kept = readKept(key);
    if (box.hasAttribute("data-sent")) {
      // A refused form's text the server put back: newer than any copy, and kept too,
      // with this page's counts (it shows what the refusal was about).
      if (box.value) keep(key, box.value, box.form);
    } else if (kept !== null && kept.text !== box.value && box.value === box.defaultValue) {
      // Only over what the page brought (empty, the draft, an answer picked), never over
      // what the browser itself put back in the box.
      box.value = kept.text; // a value, never parsed as HTML
      // The counts of the page the text was written on: the server then refuses it if a
      // colleague answered, or the customer wrote again, since then.
      for (const [name, value] of Object.entries(kept.shown)) {
        const field = box.form?.querySelector(`input[type="hidden"][name="${name}"]`);
        if (field && SHOWN.includes(name) && /^[0-9]+$/.test(String(value))) field.value = value;
      }
      const note = document.createElement("span");
      note.className = "meta kept";
      note.textContent = "Kept from before: not posted yet.";
      (box.closest("label") ?? box).after(note);
      restored.push(box);
    }
    box.addEventListener("input", () => keep(key, box.value, box.form));
  }
  // Picking a knowledge-base answer replaces the reply box's text on purpose.
  document.querySelector("form.answer-pick")?.addEventListener("submit", () => {
    keep(prefix + "reply", "", null);
  });
  return restored;
}

// A "done" in the address was said once: left there, the login form that a form sent
// after the session ended comes back to (next= is that page) showed "Done:" again for
// what was not done, and a reload said it once more.
function forgetDone() {
  const address = new URL(location.href);
  if (!address.searchParams.has("done")) return;
  address.searchParams.delete("done");
  history.replaceState(history.state, "", address);
}

document.addEventListener("DOMContentLoaded", () => {
  forgetDone();
  document.querySelector("form.logout")?.addEventListener("submit", () => {
    try {
      Object.keys(sessionStorage)
        .filter((key) => key.startsWith(KEPT))
        .forEach((key) => sessionStorage.removeItem(key));
    } catch (error) {
      // nothing was kept
    }
  });
  const page = document.querySelector("[data-keep-case]");
  let restored = [];
  try {
    if (page) restored = keepTyped(page);
  } catch (error) {
    // sessionStorage refused: nothing is kept, the page works as before
  }
  document.querySelectorAll('form[method="post"]').forEach(guardSubmit);
  const region = document.getElementById("queue-live");
  if (region) startQueueRefresh(region);
  document.querySelectorAll("textarea[data-check]").forEach(startReplyCheck);
  // Checked as if typed: the count and the problems of the text put back.
  restored.forEach((box) => box.dispatchEvent(new Event("input")));
});
