"""TrustedForm v4 against the fake in the harness: shapes, verdicts, strict URLs, faults."""

from __future__ import annotations

import base64

import pytest

from compliance.consent import ConsentSettings, Outcome, decide, evidence_of
from compliance.trustedform import TrustedFormClient, Verdict, cert_id, interpret
from harness.fake_trustedform import FakeTrustedForm
from tests.lanes import process_fixture

GOOD = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
@process_fixture
def tf():
    with FakeTrustedForm(api_key="tf-key") as fake:
        yield fake


def client(tf: FakeTrustedForm, **kwargs) -> TrustedFormClient:
    return TrustedFormClient(kwargs.pop("api_key", "tf-key"), api_base=tf.url, **kwargs)


def retain(c: TrustedFormClient, cert: str, phone: str | None = "3055550100", email: str | None = None):
    return c.retain(cert, phone=phone, email=email, reference="leadrelay:lead/7", vendor="webform")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/" + GOOD,  # another host
        "https://cert.trustedform.com.evil.example/" + GOOD,  # a suffix
        "https://cert.trustedform.com:8443/" + GOOD,  # a port
        "https://cert.trustedform.com:443/" + GOOD,  # even the default port
        "https://user:pw@cert.trustedform.com/" + GOOD,  # userinfo
        "https://user@cert.trustedform.com/" + GOOD,
        "https://cert.trustedform.com/" + GOOD + "?x=1",  # a query
        "https://cert.trustedform.com/" + GOOD + "?",
        "https://cert.trustedform.com/" + GOOD + "#frag",
        "http://cert.trustedform.com/" + GOOD,  # not https
        "https://CERT.TRUSTEDFORM.COM/" + GOOD,  # not exactly the host
        "https://cert.trustedform.com./" + GOOD,  # trailing dot
        "https://cert.trustedform.com/" + GOOD.upper(),  # not lower-case hex
        "https://cert.trustedform.com/" + GOOD[:-1] + "g",  # a non-hex id
        "https://cert.trustedform.com/" + GOOD[:-1],  # 39 digits
        "https://cert.trustedform.com/" + GOOD + "0",  # 41 digits
        "https://cert.trustedform.com/" + GOOD + "/",  # a trailing slash
        "https://cert.trustedform.com/x/" + GOOD,  # a deeper path
        "https://cert.trustedform.com/\t" + GOOD,  # whitespace inside
        "https://cert.trustedform.com/%30" + GOOD[1:],  # percent-encoding
        "https://cert.trustedform.com\\@evil.example/" + GOOD,  # backslash tricks
        "//cert.trustedform.com/" + GOOD,
        GOOD,
        "",
        None,
        42,
    ],
)
@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_refused_certificate_urls_make_no_request(tf, url):
    assert cert_id(url) is None
    settings = ConsentSettings(require="all", trustedform_api_key="tf-key", trustedform_api_base=tf.url)
    evidence = evidence_of({"xxTrustedFormCertUrl": url}, settings)
    decision = decide(evidence, settings, "Sales", last=None, waited=0)
    assert decision.outcome is Outcome.BLOCK and not decision.needs_retain
    assert tf.requests == []


def test_the_accepted_url_form():
    assert cert_id("https://cert.trustedform.com/" + GOOD) == GOOD
    # A form field's surrounding blanks are trimmed before the strict check (the id is still exact).
    assert cert_id(" https://cert.trustedform.com/" + GOOD) is None
    assert (
        evidence_of({"xxTrustedFormCertUrl": " https://cert.trustedform.com/" + GOOD + "\n"}, ConsentSettings()).cert_id
        == GOOD
    )


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_match_retains_and_answers_v4_shapes(tf):
    cert = tf.add_cert(phone="+1 (305) 555-0100", email="ada@example.com")
    result = retain(client(tf), cert)
    assert result.verdict is Verdict.VERIFIED and result.status == 200 and result.outcome == "success"
    assert result.phone_match is True and result.previously_retained is False and result.expires_at
    assert tf.retains[0]["reference"] == "leadrelay:lead/7" and tf.retains[0]["vendor"] == "webform"
    assert retain(client(tf), cert).previously_retained is True


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_the_request_is_v4_with_basic_x_key(tf):
    seen = {}

    def capture(request):
        seen.update(request.headers)
        seen["path"] = request.path
        return original(request)

    original, tf.answer = tf.answer, capture
    retain(client(tf), tf.add_cert(phone="3055550100"))
    assert seen["Api-Version"] == "4.0" and seen["Content-Type"] == "application/json"
    assert base64.b64decode(seen["Authorization"].split()[1]) == b"X:tf-key"


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_mismatch_and_match_modes(tf):
    cert = tf.add_cert(phone="3055550100", email="ada@example.com")
    wrong_phone = retain(client(tf), cert, phone="3055550199", email="ada@example.com")
    assert wrong_phone.verdict is Verdict.MISMATCH and wrong_phone.phone_match is False
    assert (
        retain(client(tf, match="email"), cert, phone="3055550199", email="ADA@example.com").verdict is Verdict.VERIFIED
    )
    assert (
        retain(client(tf, match="either"), cert, phone="3055550199", email="ada@example.com").verdict
        is Verdict.VERIFIED
    )
    assert retain(client(tf, match="email"), cert, email="bob@example.com").verdict is Verdict.MISMATCH


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_unknown_certificate_is_invalid(tf):
    result = retain(client(tf), GOOD)
    assert result.verdict is Verdict.UNUSABLE and result.status == 404 and "not found" in (result.reason or "")


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_bad_key_is_unavailable_not_invalid(tf):
    result = retain(client(tf, api_key="wrong"), tf.add_cert(phone="3055550100"))
    assert result.verdict is Verdict.UNAVAILABLE and result.status == 401


@pytest.mark.parametrize("status", [429, 500, 502, 503, 403])
@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_their_trouble_is_unavailable(tf, status):
    tf.fail_with(status)
    assert retain(client(tf), tf.add_cert(phone="3055550100")).verdict is Verdict.UNAVAILABLE


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_slow_is_a_timeout(tf):
    tf.latency = 0.5
    result = retain(client(tf, timeout=0.1), tf.add_cert(phone="3055550100"))
    assert result.verdict is Verdict.UNAVAILABLE and result.reason == "timeout" and result.status is None


@pytest.mark.process  # the fake TrustedForm (or a receiver) listens on loopback
def test_down_is_unavailable_then_recovers(tf):
    cert = tf.add_cert(phone="3055550100")
    tf.down()
    assert retain(client(tf), cert).reason == "connection failed"
    tf.up()
    assert retain(client(tf), cert).verdict is Verdict.VERIFIED


def test_unreadable_answer_and_error_outcome_are_unavailable():
    assert interpret(200, None, "phone", 1.0).verdict is Verdict.UNAVAILABLE
    assert interpret(200, {"outcome": "error", "reason": "x"}, "phone", 1.0).verdict is Verdict.UNAVAILABLE
    failed = {"outcome": "failure", "reason": "expired", "match_lead": {"result": {"phone_match": True}}}
    assert interpret(200, failed, "phone", 1.0).verdict is Verdict.UNUSABLE


# ------------------------------------------------------------------ the gate's decision


def settings(**kwargs) -> ConsentSettings:
    return ConsentSettings(**{"require": "all", "trustedform_api_key": "k", "field": "consent", **kwargs})


def test_not_required_passes_without_evidence():
    assert decide(evidence_of({}, ConsentSettings()), ConsentSettings(), "Sales", None, 0).outcome is Outcome.ALLOW
    only = ConsentSettings(require=("Solar",))
    assert decide(evidence_of({}, only), only, "Sales", None, 0).outcome is Outcome.ALLOW
    assert decide(evidence_of({}, only), only, "Solar", None, 0).outcome is Outcome.BLOCK


def test_pending_verified_unavailable_and_the_wait_limit():
    s = settings(max_wait=600)
    ev = evidence_of({"xxTrustedFormCertUrl": "https://cert.trustedform.com/" + GOOD}, s)
    pending = decide(ev, s, "Sales", None, 0)
    assert pending.outcome is Outcome.WAIT and pending.needs_retain
    down = interpret(503, {"outcome": "error"}, "phone", 1.0)
    waiting = decide(ev, s, "Sales", down, 599)
    assert waiting.outcome is Outcome.WAIT and waiting.alert and waiting.needs_retain
    assert decide(ev, s, "Sales", down, 600).outcome is Outcome.BLOCK
    manual = settings(on_unavailable="manual", manual_campaign="Hand dial")
    assert decide(ev, manual, "Sales", down, 601).outcome is Outcome.MANUAL
    ok = interpret(200, {"outcome": "success", "match_lead": {"result": {"phone_match": True}}}, "phone", 1.0)
    assert decide(ev, s, "Sales", ok, 0).outcome is Outcome.ALLOW


def test_failures_block_or_go_manual():
    s = settings()
    ev = evidence_of({"xxTrustedFormCertUrl": "https://cert.trustedform.com/" + GOOD}, s)
    mismatch = interpret(200, {"outcome": "failure", "match_lead": {"result": {"phone_match": False}}}, "phone", 1.0)
    assert decide(ev, s, "Sales", mismatch, 0).outcome is Outcome.BLOCK
    manual = settings(on_missing="manual", manual_campaign="Hand dial")
    assert decide(ev, manual, "Sales", mismatch, 0).outcome is Outcome.MANUAL
    assert decide(evidence_of({}, manual), manual, "Sales", None, 0).outcome is Outcome.MANUAL


def test_consent_field_and_jornaya_are_evidence():
    s = settings(text_field="consent_text", timestamp_field="consent_at")
    record = {"consent": "Yes", "consent_text": "I agree to be called", "consent_at": "2026-12-07T10:00:00Z"}
    ev = evidence_of(record, s)
    assert decide(ev, s, "Sales", None, 0).outcome is Outcome.ALLOW
    assert ev.record()["consent_text"] == "I agree to be called"
    assert decide(evidence_of({"consent": "no"}, s), s, "Sales", None, 0).outcome is Outcome.BLOCK
    jornaya = evidence_of({"leadid_token": "3F1A6B2C-1111-2222-3333-444455556666"}, s)
    assert decide(jornaya, s, "Sales", None, 0).outcome is Outcome.ALLOW
