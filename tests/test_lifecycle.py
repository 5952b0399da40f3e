"""The lead lifecycle is spelled once (lead/lifecycle.py): the tree is read with ast to keep it so.

A lead-status or lead-reason string anywhere else in application code — a bare literal, or a quoted
status inside SQL text — fails here. Other vocabularies that share words (`events.status`: invalid,
dropped; `dispatcher_lease.engage_state`: held) are enums of their own, declared below, so the two
stay distinguishable. Migrations (frozen history) and tests are exempt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lead import lifecycle
from lead.lifecycle import (
    DISPATCHABLE,
    IN_PROGRESS,
    PENDING,
    PURGEABLE,
    REASONS,
    REPLAYABLE,
    REQUEUED_BY_REPLAY,
    SUPPRESSING,
    TERMINAL,
    TRANSITIONS,
    LeadReason,
    LeadStatus,
    can_transition,
    sql_list,
)

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "lead" / "lifecycle.py"
# Enums of other vocabularies whose values may coincide with a lead status (class name → why).
OTHER_VOCABULARIES = {
    "EventStatus": "events.status: what became of a whole request (store/ingest.py)",
    "EngageState": "dispatcher_lease.engage_state: Engage as the leader sees it (store/lease.py)",
    "ConfigKey": "a key of leadrelay.yml's compliance block: `consent:` (config/compliance.py)",
    "JobState": "jobs.state: an outbox job's state (store/outbox.py)",
}
STATUS_WORDS = {s.value for s in LeadStatus}
REASON_WORDS = {r.value for r in LeadReason}
# A quoted status inside SQL text: status='held', IN ('queued','retrying'), THEN 'suppressed'.
SQL_WORD = re.compile(r"'(" + "|".join(sorted(STATUS_WORDS | REASON_WORDS)) + r")'")


def _application_files() -> list[Path]:
    """Every Python file of the application: not tests, migrations, the venv or build output."""
    skip = {"tests", "instance", "build", "migrations"}
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not (set(path.relative_to(ROOT).parts) & skip or path.relative_to(ROOT).parts[0].startswith("."))
    ]


def _exempt_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants inside an other-vocabulary enum's body."""
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in OTHER_VOCABULARIES:
            exempt |= {id(inner) for inner in ast.walk(node) if isinstance(inner, ast.Constant)}
    return exempt


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of docstring constants (prose may name a status)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def literals_in(source: str, name: str = "<string>") -> list[str]:
    """Each lead-status or lead-reason spelling in a module's code, as 'line: text'."""
    tree = ast.parse(source, name)
    skip = _exempt_nodes(tree) | _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in skip:
            continue
        if node.value in STATUS_WORDS or node.value in REASON_WORDS:
            found.append(f"{node.lineno}: {node.value!r}")
        elif match := SQL_WORD.search(node.value):
            found.append(f"{node.lineno}: SQL {match.group(0)} in {node.value.strip()[:60]!r}")
    return found


def test_the_walk_reads_the_application():
    # Guards the test itself: an empty walk would pass everything.
    names = {p.relative_to(ROOT).as_posix() for p in _application_files()}
    assert {"store/queue.py", "dispatch/sender.py", "cli.py", "admin/charts.py", "lead/lifecycle.py"} <= names
    assert not any(n.startswith(("tests/", "store/migrations/")) for n in names)


def test_no_lead_status_literal_outside_the_lifecycle_module():
    found = {
        path.relative_to(ROOT).as_posix(): hits
        for path in _application_files()
        if path != HOME and (hits := literals_in(path.read_text(encoding="utf-8"), str(path)))
    }
    assert found == {}


def test_the_checker_sees_each_kind_of_spelling():
    # The check must fail on each way a status used to be written (store/queue.py, admin/, cli.py …).
    assert literals_in('x = "held"') == ["1: 'held'"]
    assert literals_in('if status in ("dead", "rejected"): pass') == ["1: 'dead'", "1: 'rejected'"]
    assert literals_in("q = \"UPDATE leads SET status='queued' WHERE id=:id\"")[0].startswith("1: SQL 'queued'")
    assert literals_in("q = f\"status IN ('queued','retrying') AND {x}\"") != []
    assert literals_in('r = "account_hold"') == ["1: 'account_hold'"]
    # Other vocabularies are allowed inside their own enums, prose too; not outside them.
    assert literals_in('class EventStatus(StrEnum):\n    INVALID = "invalid"') == []
    assert literals_in('def f():\n    """A held lead."""') == []
    assert literals_in('class Other(StrEnum):\n    INVALID = "invalid"') == ["2: 'invalid'"]


def test_no_like_over_last_error_in_application_code():
    # Control decisions are read from status_reason / unknown_fate, never parsed out of error text.
    pattern = re.compile(r"last_error[^;]{0,40}\blike\b|\blike\b[^;]{0,10}last_error", re.IGNORECASE)
    found = []
    for path in _application_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
    assert pattern.search("WHERE last_error LIKE :p") and pattern.search("LOWER(COALESCE(last_error, '')) LIKE '%x%'")


# ------------------------------------------------------------------- the sets and the table


def test_sets_are_made_of_statuses():
    for name in ("DISPATCHABLE", "SUPPRESSING", "REPLAYABLE", "PURGEABLE", "TERMINAL", "PENDING"):
        members = getattr(lifecycle, name)
        assert isinstance(members, frozenset) and members and all(isinstance(s, LeadStatus) for s in members), name


def test_reserved_statuses_sit_in_their_sets():
    """The issue's rules for the wave-3 statuses."""
    S = LeadStatus
    assert S.DEFERRED in SUPPRESSING and S.DEFERRED not in PURGEABLE and S.DEFERRED in PENDING
    assert S.DONE in SUPPRESSING
    assert {S.BLOCKED, S.CANCELLED, S.OPTED_OUT, S.DONE} <= PURGEABLE
    assert S.BLOCKED in REPLAYABLE and S.BLOCKED in REQUEUED_BY_REPLAY and can_transition(S.BLOCKED, S.QUEUED)
    assert S.OPTED_OUT not in REPLAYABLE and not any(a == S.OPTED_OUT for a, _ in TRANSITIONS)
    # Nothing waiting is ever purged; nothing purged is still dispatchable.
    assert not (PURGEABLE & (PENDING | DISPATCHABLE | {S.SENDING}))
    assert TERMINAL <= PURGEABLE and PENDING | {S.SENDING} == IN_PROGRESS


def test_every_status_is_reachable_and_every_edge_has_a_cause():
    targets = {b for _, b in TRANSITIONS}
    assert targets == set(LeadStatus)
    assert all(causes for causes in TRANSITIONS.values())
    # Terminal statuses leave only by an operator, a person or the CRM — never by the dispatcher.
    for (a, b), causes in TRANSITIONS.items():
        if a in TERMINAL:
            assert causes <= {lifecycle.Cause.OPERATOR_REPLAY, lifecycle.Cause.OPT_OUT}, (a, b, causes)


def test_reasons_belong_to_waiting_or_refused_statuses():
    assert set().union(*REASONS.values()) == set(LeadReason)
    assert set(REASONS) <= PENDING | {LeadStatus.BLOCKED}


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        (None, "queued", True),
        ("queued", "sending", True),
        ("sending", "delivered", True),
        ("sending", "sending", True),  # a new leader re-claims a dead one's claim
        ("delivered", "queued", False),
        ("opted_out", "queued", False),
        ("queued", "nonsense", False),
        ("dead", "queued", True),
    ],
)
def test_can_transition(a, b, ok):
    assert can_transition(a, b) is ok


def test_sql_list_is_sorted_and_quoted():
    assert sql_list(DISPATCHABLE) == "'queued', 'retrying'"


def test_the_state_diagram_in_the_docs_is_the_table():
    """docs/architecture.md draws TRANSITIONS: every drawn edge is legal, every non-reserved edge is drawn."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("stateDiagram-v2", 1)[1].split("```", 1)[0]
    drawn = set()
    for line in block.splitlines():
        if "-->" in line:
            a, rest = line.split("-->")
            b = rest.split(":")[0].strip()
            drawn.add((None if a.strip() == "[*]" else LeadStatus(a.strip()), LeadStatus(b)))
    assert drawn and not drawn - set(TRANSITIONS)
    reserved = {lifecycle.Cause.GATES, lifecycle.Cause.OPT_OUT, lifecycle.Cause.CANCEL, lifecycle.Cause.DIALER_OUTCOME}
    assert sorted(map(str, {edge for edge, causes in TRANSITIONS.items() if causes - reserved} - drawn)) == []


def test_no_lead_status_literal_in_the_console_templates():
    """The templates compare with what the view computed from the lifecycle, never a quoted status."""
    quoted = re.compile(r"""['"](""" + "|".join(sorted(STATUS_WORDS)) + r""")['"]""")
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "admin" / "templates").rglob("*.html"))
        for match in quoted.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
