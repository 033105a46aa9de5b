"""Wrong passwords are counted per account and client address, not per account alone.

Five wrong passwords locked the account itself: anyone who knew a name (admin included)
kept its owner out with 5 requests every 15 minutes, from anywhere."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from monitor.clock import FakeClock
from monitor.runtime import Runtime
from monitor.web import lockout, users
from monitor.web.app import create_app
from tests.conftest import RuntimeFactory
from tests.webkit import NONCE, PASSWORD, seeded

STRANGER, OWNER = "203.0.113.66", "198.51.100.7"


def _wrong(rt: Runtime, name: str, address: str, times: int) -> None:
    for n in range(times):
        with pytest.raises(users.LoginRefused):
            users.authenticate(rt, name, f"wrong guess {n}", address=address)


def _signs_in(rt: Runtime, name: str, address: str) -> bool:
    try:
        users.authenticate(rt, name, PASSWORD, address=address)
    except users.LoginRefused:
        return False
    return True


def test_a_stranger_locking_root_from_one_address_does_not_lock_out_its_owner(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    _wrong(rt, "root", STRANGER, lockout.MAX_FAILURES)
    assert not _signs_in(rt, "root", STRANGER)  # guessing from there stops: even the password
    assert _signs_in(rt, "root", OWNER)
    # An admin sees that root was guessed at; root can still sign in.
    assert users.list_users(rt)[-1][1:] == (True, rt.clock.now() + lockout.LOCKOUT)


def test_one_address_guessing_across_names_is_stopped_for_every_name(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    assert isinstance(rt.clock, FakeClock)
    names = ["alice", "bob", "lena", "nobody"]  # an unknown name counts too
    per_name = lockout.ADDRESS_FAILURES // len(names)
    for name in names:
        _wrong(rt, name, STRANGER, per_name)
    assert not _signs_in(rt, "root", STRANGER)
    assert _signs_in(rt, "root", OWNER)
    rt.clock.advance(minutes=15)
    assert _signs_in(rt, "root", STRANGER)


def test_guessing_from_many_addresses_still_locks_the_account(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    assert isinstance(rt.clock, FakeClock)
    addresses = [f"203.0.113.{n}" for n in range(lockout.ACCOUNT_FAILURES // lockout.MAX_FAILURES)]
    for address in addresses:
        _wrong(rt, "alice", address, lockout.MAX_FAILURES)
    assert not _signs_in(rt, "alice", OWNER)
    locked = {user.name: until for user, _, until in users.list_users(rt)}
    assert locked["alice"] == rt.clock.now() + lockout.LOCKOUT
    users.unlock(rt, "alice", actor="root")
    assert _signs_in(rt, "alice", OWNER)
    assert _signs_in(rt, "alice", addresses[0])  # the unlock lifts every lockout of alice


def test_addresses_of_one_ipv6_network_count_as_one(make_runtime: RuntimeFactory) -> None:
    # Whoever has one IPv6 address usually has its whole /64: a new address per guess.
    rt = seeded(make_runtime)
    for n in range(lockout.MAX_FAILURES):
        _wrong(rt, "alice", f"2001:db8:1:2::{n + 1:x}", 1)
    assert not _signs_in(rt, "alice", "2001:db8:1:2::ff")
    assert _signs_in(rt, "alice", "2001:db8:1:3::1")


def test_a_right_password_forgets_that_addresss_wrong_ones(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    _wrong(rt, "alice", OWNER, lockout.MAX_FAILURES - 1)
    assert _signs_in(rt, "alice", OWNER)
    _wrong(rt, "alice", OWNER, lockout.MAX_FAILURES - 1)
    assert _signs_in(rt, "alice", OWNER)  # not 5 in a row


def test_the_sign_in_form_counts_by_the_clients_address(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)

    def post(address: str, password: str) -> int:
        client = TestClient(create_app(rt), client=(address, 40000))
        nonce = NONCE.search(client.get("/login").text)
        assert nonce is not None
        form = {"name": "root", "password": password, "nonce": nonce.group(1)}
        return client.post("/login", data=form, follow_redirects=False).status_code

    assert {post(STRANGER, "wrong-wrong-wrong") for _ in range(lockout.MAX_FAILURES)} == {401}
    assert post(STRANGER, PASSWORD) == 401
    assert post(OWNER, PASSWORD) == 303
