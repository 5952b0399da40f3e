"""The marshmallow schemas of leadrelay.yml: `defaults:`, `dispatch:`, a source's common keys, a route."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from standardwebhooks.webhooks import Webhook

from config.errors import closest
from config.fields import Duration
from handlers.auth import Secrets

PRIORITIES = ("IMMEDIATE", "NORMAL")
DUPLICATE_HANDLING = ("RETAIN_ALL", "REMOVE_ALL_EXISTING", "REMOVE_FROM_LIST")
TIME_ZONE_OPTIONS = ("NPA_NXX", "ZIPCODE", "EXPLICIT", "COUNTRY", "NOT_APPLICABLE")
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "matches", "contains", "stop_word")
# Per-source lifecycle rules (each a `when` or a list of them, any of which matches), evaluated on
# every record before `events:`, mapping and routes.
LIFECYCLE_KEYS = ("opt_out_when", "cancel_when", "erase_when")
ROUTE_KEYS = ("name", "when", "priority", "campaign", "drop")


class RouteSchema(Schema):
    """One entry of `routes:`; first match wins."""

    class Meta:
        """Unknown keys are reported by validate_unknown below with a clearer message."""

        unknown = EXCLUDE

    name = fields.String(validate=validate.Length(min=1, max=100))  # shown on a lead's timeline
    when = fields.Dict(keys=fields.String(), load_default=dict)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    campaign = fields.Raw()
    drop = fields.Boolean(load_default=False)

    @validates_schema(pass_original=True)
    def validate_unknown(self, data: dict[str, Any], original: dict[str, Any], **kwargs: Any) -> None:
        """Name unknown route keys and check each condition's operators."""
        extra = set(original) - set(ROUTE_KEYS)
        if extra:
            word = sorted(extra)[0]
            guess = closest(word, ROUTE_KEYS)
            hint = f"did you mean `{guess}`? " if guess else ""
            raise ValidationError(f"unknown key {word!r}: {hint}a route has name, when, priority, campaign, drop")
        for name, cond in (data.get("when") or {}).items():
            if isinstance(cond, dict):
                _check_condition(name, cond)


def _check_condition(name: str, cond: dict[str, Any]) -> None:
    """One `when:` condition written as operators: known operators, valid regex, lists where lists go."""
    bad = set(cond) - set(OPERATORS)
    if bad:
        word = sorted(bad)[0]
        guess = closest(word, OPERATORS)
        hint = f"did you mean `{guess}`? " if guess else ""
        raise ValidationError(
            f"when.{name}: unknown operator {word!r}: {hint}use one of {', '.join(OPERATORS)}",
            "when",
        )
    if "matches" in cond:
        try:
            re.compile(str(cond["matches"]))
        except re.error as exc:
            raise ValidationError(f"when.{name}.matches: bad regular expression: {exc}", "when") from None
    for op in ("in", "not_in"):
        if op in cond and not isinstance(cond[op], list):
            raise ValidationError(f"when.{name}.{op}: must be a list", "when")
    if "stop_word" in cond and not isinstance(cond["stop_word"], bool):
        raise ValidationError(f"when.{name}.stop_word: must be true or false", "when")


def lifecycle_conditions(key: str, value: Any) -> list[dict[str, Any]]:
    """A lifecycle rule as a list of `when` mappings (any matches); false/null/[] means no rule.

    Raises ValidationError (keyed by `key`) naming what is wrong with the shape or an operator.
    """
    if value is None or value is False:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]" if isinstance(value, list) else key
        if not isinstance(item, dict) or not item:
            raise ValidationError(
                f"{where}: must be a non-empty mapping of field → condition (like a route's `when`), "
                "a list of them, or false",
                key,
            )
        for name, cond in item.items():
            if isinstance(cond, dict):
                try:
                    _check_condition(str(name), cond)
                except ValidationError as exc:
                    raise ValidationError(f"{where}: {_first_message(exc)}", key) from None
        out.append(dict(item))
    return out


def _first_message(exc: ValidationError) -> str:
    """The first message of a ValidationError, whatever its shape."""
    messages: Any = exc.messages
    while isinstance(messages, (dict, list)):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)


class DefaultsSchema(Schema):
    """`defaults:` — what applies when a source or route does not say."""

    class Meta:
        """Unknown keys are reported by load_file with a did-you-mean."""

        unknown = EXCLUDE

    campaign = fields.Raw(load_default="Inbound Leads")
    priority = fields.String(load_default="NORMAL", validate=validate.OneOf(PRIORITIES))
    duplicate_handling = fields.String(load_default="REMOVE_FROM_LIST", validate=validate.OneOf(DUPLICATE_HANDLING))
    time_zone_option = fields.String(load_default="NPA_NXX", validate=validate.OneOf(TIME_ZONE_OPTIONS))
    default_region = fields.String(load_default="US", validate=validate.Length(equal=2))
    suppress_within = Duration(load_default=86400.0)
    suppress_by_phone = fields.Boolean(load_default=False)
    dedupe_window = Duration(load_default=7 * 86400.0)
    phones = fields.String(load_default="all", validate=validate.OneOf(("all", "primary")))
    e164 = fields.Boolean(load_default=False)
    list_description = fields.String(load_default="leadrelay {source} {date}")
    max_body = fields.Integer(load_default=1024 * 1024, validate=validate.Range(min=1024))
    max_records = fields.Integer(load_default=1000, validate=validate.Range(min=1))
    retention_days = fields.Integer(load_default=30, validate=validate.Range(min=1))


class DispatchSchema(Schema):
    """`dispatch:` — dispatcher tuning (all optional; defaults follow Engage's documented limits)."""

    class Meta:
        """Unknown keys are reported by load_file with a did-you-mean."""

        unknown = EXCLUDE

    batch_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    normal_batch_delay = Duration(load_default=3.0)  # NORMAL's bounded wait to fill a batch
    immediate_max_wait = Duration(load_default=3.0)  # a hot lead's bound when leads must share calls
    lease_seconds = Duration(load_default=4.0)
    poll_interval = Duration(load_default=1.0)
    retry_budget = Duration(load_default=24 * 3600.0)
    backoff_base = Duration(load_default=1.0)
    backoff_cap = Duration(load_default=300.0)
    rate_limit_10s = fields.Integer(load_default=27, validate=validate.Range(min=1))
    rate_limit_60s = fields.Integer(load_default=110, validate=validate.Range(min=1))
    max_claims = fields.Integer(load_default=5, validate=validate.Range(min=1))
    immediate_max_age = Duration(load_default=900.0)
    hold_probe = Duration(load_default=60.0)
    # One Engage call may take this long before it counts as failed (independent of the lease,
    # which keeps renewing while a call is in flight).
    call_timeout = Duration(load_default=30.0)
    # During an account-wide outage one probe call goes out at least this often.
    outage_probe_cap = Duration(load_default=30.0)


class HubSpotWritebackSchema(Schema):
    """`writeback.hubspot:` — a private-app token with crm.objects.contacts.write (docs/operations.md)."""

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    api_base_url = fields.Url(require_tld=False, schemes={"http", "https"})  # tests point it at the fake
    disposition_property = fields.String(validate=validate.Length(min=1))  # a contact property to set


class SalesforceWritebackSchema(Schema):
    """`writeback.salesforce:` — OAuth 2.0 client credentials of an app with a run-as user."""

    login_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})  # the org's My Domain URL
    client_id = fields.String(required=True, validate=validate.Length(min=1))
    client_secret = fields.String(required=True, validate=validate.Length(min=1))
    api_version = fields.String(load_default="v60.0", validate=validate.Regexp(r"^v\d+\.\d$"))
    limit_wait = Duration(load_default=3600.0)  # after REQUEST_LIMIT_EXCEEDED


class WritebackSchema(Schema):
    """`writeback:` — where a lead's dialer outcomes go back to (docs/operations.md "Closing the loop")."""

    send = fields.String(load_default="attempts", validate=validate.OneOf(("attempts", "final")))
    webhook = fields.Url(require_tld=False, schemes={"http", "https"})
    secret = fields.String()  # whsec_… (Standard Webhooks)
    hubspot = fields.Nested(HubSpotWritebackSchema)
    salesforce = fields.Nested(SalesforceWritebackSchema)
    timeout = Duration(load_default=15.0)  # one CRM call

    @validates_schema
    def _targets(self, data: dict[str, Any], **kwargs: Any) -> None:
        """At least one target; a webhook needs a Standard Webhooks secret the library can decode."""
        if not (data.get("webhook") or data.get("hubspot") or data.get("salesforce")):
            raise ValidationError("name a target: webhook (with secret), hubspot or salesforce", "send")
        if data.get("webhook"):
            secret = data.get("secret")
            if not secret:
                raise ValidationError("a webhook needs `secret: whsec_…` (Standard Webhooks)", "secret")
            try:
                Webhook(secret)
            except Exception as exc:  # the library raises several types for an undecodable secret
                raise ValidationError(f"not a Standard Webhooks secret ({type(exc).__name__})", "secret") from exc


class SourceCommonSchema(Schema):
    """The keys every source accepts, whatever its type."""

    class Meta:
        """Type-specific keys are checked by the type's own schema."""

        unknown = EXCLUDE

    type = fields.String(required=True)
    enabled = fields.Boolean(load_default=True)
    token = Secrets()
    token_field = fields.String()
    # With a signature secret configured the token alone is refused; true accepts it (said at start-up).
    allow_token_alone = fields.Boolean(load_default=False)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), load_default=dict)
    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    campaign = fields.Raw()
    events = fields.List(fields.String())
    public_url = fields.Url(require_tld=False, schemes={"http", "https"})
    max_body = fields.Integer(validate=validate.Range(min=1024))
    max_records = fields.Integer(validate=validate.Range(min=1))
    reject_invalid = fields.Boolean()
    suppress_within = Duration()
    suppress_by_phone = fields.Boolean()
    dedupe_window = Duration()
    default_region = fields.String(validate=validate.Length(equal=2))
    phones = fields.String(validate=validate.OneOf(("all", "primary")))
    e164 = fields.Boolean()
    list_description = fields.String()
    duplicate_handling = fields.String(validate=validate.OneOf(DUPLICATE_HANDLING))
    time_zone_option = fields.String(validate=validate.OneOf(TIME_ZONE_OPTIONS))
    expect_every = Duration()  # alert `source_silent` when no webhook arrives for this long
    compliance = fields.Raw()  # this source's override of the top-level block (config/compliance.py)
    writeback = fields.Nested(WritebackSchema)  # dialer outcomes back to where the lead came from
    # Lifecycle rules (absent: the type's default; false, null or []: none): see lifecycle_conditions.
    opt_out_when = fields.Raw(allow_none=True)
    cancel_when = fields.Raw(allow_none=True)
    erase_when = fields.Raw(allow_none=True)

    @validates_schema
    def validate_lifecycle(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Each lifecycle rule is a `when` (or a list of them) with known operators."""
        for key in LIFECYCLE_KEYS:
            if key in data:
                lifecycle_conditions(key, data[key])


class AlertsSchema(Schema):
    """`alerts:` — where alert messages go and when conditions count (docs/operations.md "Alerts")."""

    class Meta:
        """Unknown keys are reported by load_file with a suggestion."""

        unknown = EXCLUDE

    webhook = fields.Url(require_tld=False, schemes={"http", "https"})  # a secret: never logged
    backlog_max_age = Duration(load_default=120.0)
    repeat_every = Duration(load_default=3600.0)
    check_every = Duration(load_default=10.0)  # how often each process evaluates the conditions
    dispatcher_grace = Duration(load_default=30.0)  # no heartbeat this long while leads wait → dispatcher_down
    # A lead loaded this long ago with no dialer attempt → not_dialed (campaigns that send dialer events only).
    not_dialed_after = Duration(load_default=900.0)


# Keys every source accepts (as written in the file); everything else belongs to the source
# type's options schema. Derived from the schema so a new common key is declared once.
COMMON_SOURCE_KEYS = frozenset(f.data_key or name for name, f in SourceCommonSchema().fields.items())
