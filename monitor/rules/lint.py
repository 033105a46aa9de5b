"""Checks that need the whole rule set or the config: templates, teams, channels,
deflection and unreachable rules. Errors fail check-config; warnings are printed."""

from __future__ import annotations

from collections.abc import Mapping

from monitor.alerts_settings import shown_channel
from monitor.domain import Platform
from monitor.rules.builders import normal_tag, unknown_team
from monitor.rules.checks import Signature
from monitor.rules.deflection import find_redirect
from monitor.rules.matching import named_values
from monitor.rules.model import Rule, evaluation_order
from monitor.rules.templates import PLATFORM_LIMITS, template_problems, worst_case_length
from monitor.yamlpos import Loc, Problem, did_you_mean


def lint_rules(
    rules: list[Rule], teams: Mapping[str, object], channels: frozenset[str], brand: str
) -> list[Problem]:
    problems: list[Problem] = []
    longest_team = max((len(t) for t in teams), default=0)
    for rule in rules:
        problems.extend(_redirect_permission(rule))
        problems.extend(_template_problems(rule, brand, longest_team))
        problems.extend(_escalation_problems(rule, teams, channels))
    problems.extend(unseen_tags(rules))
    return problems


def _redirect_permission(rule: Rule) -> list[Problem]:
    spec = rule.spec
    if spec.allow_redirect and not spec.redirect_reason.strip():
        return [
            rule.problem(("allow_redirect",), "allow_redirect needs a redirect_reason saying why")
        ]
    return []


def _template_problems(rule: Rule, brand: str, longest_team: int) -> list[Problem]:
    then = rule.spec.then
    field = "reply" if then.reply else "draft"
    problems: list[Problem] = []
    for index, template in enumerate(then.templates):
        loc = ("then", field, index)
        if not template.strip():
            problems.append(rule.problem(loc, "an empty template would post nothing"))
            continue
        problems.extend(rule.problem(loc, message) for message in template_problems(template))
        if "{match}" in template and not rule.matcher.has_text():
            message = "{match} is always empty: this rule has no text condition to fill it"
            problems.append(rule.problem(loc, message))
        problems.extend(_deflection(rule, loc, template))
        problems.extend(
            rule.problem(loc, message)
            for message in _length_problems(rule, template, brand, longest_team)
        )
    return problems


def _length_problems(rule: Rule, template: str, brand: str, longest_team: int) -> list[str]:
    """The template at its longest on each platform the rule can reply on, counted as
    that platform counts: X weighs CJK and emoji, Reddit counts the markdown."""
    problems = []
    for platform in _platforms(rule):
        length = worst_case_length(
            template, brand=brand, longest_team=longest_team, platform=platform
        )
        limit = PLATFORM_LIMITS[platform]
        if length > limit:
            problems.append(
                f"template can reach {length} characters with the longest values; "
                f"{platform.value} allows {limit}"
            )
    return problems


def _deflection(rule: Rule, loc: tuple[str, str, int], template: str) -> list[Problem]:
    found = find_redirect(template)
    if found is None:
        return []
    kind, phrase = found
    reason = rule.spec.redirect_reason.strip()
    if rule.spec.allow_redirect and reason:
        return [
            rule.problem(
                loc,
                f"sends the customer elsewhere ({kind}: {phrase!r}); allowed: {reason}",
                warning=True,
            )
        ]
    message = (
        f"sends the customer elsewhere ({kind}: {phrase!r}); answer in the thread, or set "
        "allow_redirect: true with a redirect_reason"
    )
    return [rule.problem(loc, message)]


def _platforms(rule: Rule) -> list[Platform]:
    for key, negate, values in (c.signature for c in rule.matcher.checks):
        if key == "platform" and isinstance(values, frozenset):
            return [p for p in Platform if (p.value in values) is not negate] or list(Platform)
    return list(Platform)


def _escalation_problems(
    rule: Rule, teams: Mapping[str, object], channels: frozenset[str]
) -> list[Problem]:
    escalate = rule.spec.then.escalate
    if escalate is None:
        return []
    problems = []
    if escalate.team not in teams:
        problems.append(
            rule.problem(("then", "escalate", "team"), unknown_team(escalate.team, teams))
        )
    for index, channel in enumerate(escalate.channels):
        if channel not in channels:
            # A URL written where the name goes is not printed, as in the config's own
            # channel lists: a webhook's URL is its secret, and check-config's output
            # goes to CI logs.
            shown, guess = shown_channel(channel, channels)
            hint = guess.removeprefix("; ") or f"channels: {', '.join(sorted(channels)) or 'none'}"
            # Channels are named under the config's top-level `channels:`; a team's own
            # `channels:` list only refers to them (a hidden URL's text says so already).
            where = (
                ""
                if shown.startswith("(")
                else " (channels are defined under channels: in the config)"
            )
            message = f"unknown channel {shown}{where}; {hint}"
            problems.append(rule.problem(("then", "escalate", "channels", index), message))
    return problems


def unreachable_rules(rules: list[Rule]) -> list[Problem]:
    """A rule after a terminal rule whose match is a superset of its own never runs."""
    problems = []
    ordered = [r for r in evaluation_order(rules) if r.spec.enabled]
    for position, rule in enumerate(ordered):
        for earlier in ordered[:position]:
            # An answer rule matches only when an entry fits the question: when none
            # does, the evaluation goes on past its stop.
            sure = earlier.spec.then.terminal and earlier.spec.then.answer is None
            if sure and _covers(earlier, rule):
                action = "ignore" if earlier.spec.then.ignore else "stop"
                message = (
                    f"unreachable: rule '{earlier.name}' ({earlier.file}:{earlier.line}) "
                    f"matches everything this rule matches and has {action}: true"
                )
                problems.append(rule.problem(("name",), message, warning=True))
                break
    return problems


def _covers(wide: Rule, narrow: Rule) -> bool:
    """True when every check of ``wide`` is implied by a check of ``narrow``."""
    narrow_sigs = [c.signature for c in narrow.matcher.checks]
    return all(
        any(_implies(n, w) for n in narrow_sigs) for w in (c.signature for c in wide.matcher.checks)
    )


def _implies(narrow: Signature, wide: Signature) -> bool:
    """Whether passing the ``narrow`` check guarantees passing the ``wide`` one."""
    key, negate, values = narrow
    wide_key, wide_negate, wide_values = wide
    if key != wide_key or negate != wide_negate:
        return False
    if isinstance(values, frozenset) and isinstance(wide_values, frozenset):
        # Lists are OR-ed: fewer accepted values is narrower; negated, more excluded is.
        return values >= wide_values if negate else values <= wide_values
    return values == wide_values


_SEEN_ORDER = (
    "a rule sees the tags of the rules that run before it "
    "(ignore and stop rules first, then higher priority, then file order)"
)


def unseen_tags(rules: list[Rule]) -> list[Problem]:
    """A ``tagged:`` value that no rule running before can add: the value never matches
    (negated, never rules a mention out), and nothing else would say so."""
    problems = []
    seen: set[str] = set()
    for rule in (r for r in evaluation_order(rules) if r.spec.enabled):
        for loc, raw, negate in named_values(rule.spec.match, "tagged"):
            tag = normal_tag(raw)
            if tag not in seen:
                problems.append(_unseen_tag(rule, loc, tag, negate, rules))
        # A matching ignore or stop rule ends the evaluation: no rule sees its tags.
        if not rule.spec.then.terminal:
            seen.update(rule.spec.then.tag or ())
    return problems


def _unseen_tag(rule: Rule, loc: Loc, tag: str, negate: bool, rules: list[Rule]) -> Problem:
    outcome = "never rules a mention out" if negate else "never matches"
    adders = [r for r in rules if tag in (r.spec.then.tag or ()) and r is not rule]
    live = [r for r in adders if r.spec.enabled]
    if not adders and tag in (rule.spec.then.tag or ()):
        message = f"only this rule adds the tag {tag!r}, so this value {outcome}"
        return rule.problem(loc, f"{message}; {_SEEN_ORDER}")
    if not adders:
        hint = did_you_mean(tag, sorted({t for r in rules for t in r.spec.then.tag or ()}))
        return rule.problem(loc, f"no rule adds the tag {tag!r}, so this value {outcome}{hint}")
    first = (live or adders)[0]
    where = f"rule '{first.name}' ({first.file}:{first.line})"
    if not live:
        # A rule switched off for a while must not stop the others from loading.
        message = f"only {where} adds the tag {tag!r}, and it is disabled"
        return rule.problem(loc, f"{message}, so this value {outcome}", warning=True)
    then = first.spec.then
    if then.terminal:
        action = "ignore" if then.ignore else "stop"
        message = f"{where} adds the tag {tag!r} but has {action}: true, which ends the evaluation"
        return rule.problem(loc, f"{message}, so this value {outcome}")
    message = f"{where} adds the tag {tag!r} but runs after this rule, so this value {outcome}"
    return rule.problem(loc, f"{message}; {_SEEN_ORDER}")
