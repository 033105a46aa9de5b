"""``inchannel users ...``: the people who sign in to the dashboard."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from monitor.commands.case_options import common, runtime, user_option
from monitor.web.users import (
    ROLES,
    UserError,
    check_new_user,
    create_user,
    disable,
    enable,
    list_users,
    login_name,
    new_api_token,
    require_user,
    set_password,
)

T = TypeVar("T")


def _run(work: Callable[[], T]) -> T:
    try:
        return work()
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _password(generate: bool) -> str:
    # A generated password is shown only once the change is made: one printed before a
    # refusal would be a password nobody has.
    if generate:
        return secrets.token_urlsafe(12)
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _existing(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An existing user's NAME as sign-in and `cases assign` read it: "Alice " is alice.
    Read as typed, `users disable Alice` answered "no user Alice", and someone leaving
    kept their access while the command seemed to say they had none to take away."""
    return login_name(value)


# A new user's name is not folded: `users add Alice` is refused, saying names are lower-case.
EXISTING_NAME = click.argument("name", callback=_existing)


def _show(password: str, generated: bool) -> None:
    if generated:
        click.echo(f"password: {password}")


@click.group("users")
def users_group() -> None:
    """Dashboard users: add, list, set passwords, issue API tokens, disable."""


@users_group.command("add")
@common
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="agent, lead or admin.")
@click.option("--team", "teams", multiple=True, help="A team whose cases they work (repeatable).")
@click.option("--generate-password", is_flag=True, help="Make up a password and print it.")
@user_option
def add_command(
    config_file: Path | None,
    name: str,
    role: str,
    teams: tuple[str, ...],
    generate_password: bool,
    user: str,
) -> None:
    """Create a user who signs in with NAME and a password (asked for, or generated)."""
    rt = runtime(config_file)
    _run(lambda: check_new_user(rt, name, role, teams))
    password = _password(generate_password)
    added = _run(lambda: create_user(rt, name, role, password, teams, actor=user))
    _show(password, generate_password)
    teams_text = ", ".join(added.teams) or "none"
    click.echo(f"user {added.name} ({added.role}; teams: {teams_text}) added")


@users_group.command("passwd")
@common
@EXISTING_NAME
@click.option("--generate-password", is_flag=True, help="Make up a password and print it.")
@user_option
def passwd_command(config_file: Path | None, name: str, generate_password: bool, user: str) -> None:
    """Set a new password for NAME (also lifts a lockout)."""
    rt = runtime(config_file)
    _run(lambda: require_user(rt, name))
    password = _password(generate_password)
    _run(lambda: set_password(rt, name, password, actor=user))
    _show(password, generate_password)
    click.echo(f"password of {name} changed")


@users_group.command("token")
@common
@EXISTING_NAME
@user_option
def token_command(config_file: Path | None, name: str, user: str) -> None:
    """Issue a new API token for NAME (the old one stops working); shown once."""
    token = _run(lambda: new_api_token(runtime(config_file), name, actor=user))
    click.echo(token)


@users_group.command("disable")
@common
@EXISTING_NAME
@user_option
def disable_command(config_file: Path | None, name: str, user: str) -> None:
    """Take away NAME's access: sign-in refused, sessions ended, API token revoked."""
    _run(lambda: disable(runtime(config_file), name, actor=user))
    click.echo(f"{name} disabled: signed out everywhere, API token revoked")


@users_group.command("enable")
@common
@EXISTING_NAME
@user_option
def enable_command(config_file: Path | None, name: str, user: str) -> None:
    """Let a disabled NAME sign in again (``users token`` issues a new API token)."""
    _run(lambda: enable(runtime(config_file), name, actor=user))
    click.echo(f"{name} enabled")


@users_group.command("list")
@common
def list_command(config_file: Path | None) -> None:
    """Every user, their role and teams, and whether they can sign in now."""
    for user, can_sign_in, locked in list_users(runtime(config_file)):
        state = "ok" if can_sign_in else "disabled"
        if locked is not None:
            until = f"locked until {locked:%Y-%m-%d %H:%M} UTC"
            # Can sign in: the lockout keeps out only the addresses wrong passwords came from.
            state = f"ok, but {until} where wrong passwords came from" if can_sign_in else until
        click.echo(f"{user.name}\t{user.role}\t{','.join(user.teams) or '-'}\t{state}")
