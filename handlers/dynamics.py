r"""Microsoft Dynamics 365 / Dataverse webhooks: the RemoteExecutionContext JSON of a plug-in step.

Record.fields: the Target entity's `Attributes` by logical name, with the PostEntityImages'
attributes merged over them (on Update the Target holds only the changed columns; a post image
holds the whole row), values simplified — OptionSetValue and Money → their `Value`, a
multi-select option set → a list of values, EntityReference → its `Id` (its logical name and
display name as `<name>.LogicalName` / `<name>.Name` when given), `\/Date(ms)\/` → ISO 8601 UTC.
`FormattedValues` (option labels such as "Hot") sit under `FormattedValues.<name>`. The
context's own scalars are kept by their names (`MessageName`, `PrimaryEntityName`,
`PrimaryEntityId`, `RequestId`, `OperationId`, `CorrelationId`, `Stage`, `Depth`, `UserId`,
`OrganizationName`, …): PascalCase, so they never collide with lower-case logical names.
Event: `MessageName` ("Create", "Update", "Delete"). externId (mapping): `PrimaryEntityId`.

Key: `<RequestId>:<PrimaryEntityId>:<MessageName>` (`OperationId` when RequestId is absent or
empty). A retried async system job replays the same serialized context, so RequestId is
stable across sender retries; CorrelationId is not used — it is shared by every operation a
plug-in chain triggers, so it would merge distinct changes.

Auth (any configured scheme lets the request in, constant time): `webhook_key` (WebhookKey:
`?code=`), `header: {name, value}` (HttpHeader), `query: {name, value}` (HttpQueryString).
Failures: `missing_token` (no credential present), `invalid_token`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from marshmallow import Schema
from marshmallow import fields as mfields

from handlers.auth import Secrets
from handlers.base import (
    AuthFailure,
    Inbound,
    Malformed,
    Record,
    SourceSettings,
    SourceType,
    register,
    secrets_equal,
)

WEBHOOK_KEY_PARAM = "code"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
_DATE = re.compile(r"^/Date\((-?[0-9]{1,15})([+-][0-9]{4})?\)/$")


class NamedSecret(Schema):
    """A header or query parameter name and its secret value(s)."""

    name = mfields.String(required=True)
    value = Secrets(required=True)


class DynamicsOptions(Schema):
    """Dataverse's own auth options (configure the one chosen on the service endpoint)."""

    webhook_key = Secrets()
    header = mfields.Nested(NamedSecret)
    query = mfields.Nested(NamedSecret)


def plain(value: Any) -> Any:
    """A DataContract-serialized value as a plain one (see the module docstring)."""
    if isinstance(value, str):
        match = _DATE.match(value)
        if match:
            try:
                moment = datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError):
                # Outside the years datetime can hold: keep the sender's text, never a 500.
                return value
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        kind = str(value.get("__type", "")).split(":", 1)[0]
        if kind in ("OptionSetValue", "Money") or (not kind and set(value) == {"Value"}):
            return value.get("Value")
        if kind == "OptionSetValueCollection":
            return [plain(v) for v in value.get("Values") or []]
        if kind == "EntityReference" or {"Id", "LogicalName"} <= set(value):
            return value.get("Id")
        return {k: plain(v) for k, v in value.items() if k != "__type"}
    return value


def key_values(pairs: Any) -> dict[str, Any]:
    """DataContract `[{key, value}]` lists (or an already-plain dict) as a dict."""
    if isinstance(pairs, dict):
        return dict(pairs)
    out: dict[str, Any] = {}
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, dict) and "key" in pair:
            out[str(pair["key"])] = pair.get("value")
    return out


def entity_fields(entity: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(attributes, formatted values) of one serialized Entity; empty for anything else."""
    if not isinstance(entity, dict):
        return {}, {}
    attributes: dict[str, Any] = {}
    for name, raw in key_values(entity.get("Attributes")).items():
        attributes[name] = plain(raw)
        if isinstance(raw, dict) and "LogicalName" in raw:
            # A lookup keeps what it points at, for routes such as `ownerid.LogicalName: team`.
            attributes[f"{name}.LogicalName"] = raw.get("LogicalName")
            if raw.get("Name") is not None:
                attributes[f"{name}.Name"] = raw.get("Name")
    return attributes, key_values(entity.get("FormattedValues"))


def context_fields(context: dict[str, Any]) -> dict[str, Any]:
    """Target + post images + formatted values + the context's scalars, as one flat record."""
    inputs = key_values(context.get("InputParameters"))
    attributes, formatted = entity_fields(inputs.get("Target"))
    for image in key_values(context.get("PostEntityImages")).values():
        image_attributes, image_formatted = entity_fields(image)
        attributes.update(image_attributes)
        formatted.update(image_formatted)
    fields = dict(attributes)
    fields["FormattedValues"] = formatted
    for name, value in context.items():
        if not isinstance(value, (dict, list)):
            fields[name] = plain(value)
    return fields


def record_key(context: dict[str, Any]) -> str | None:
    """`<RequestId|OperationId>:<PrimaryEntityId>:<MessageName>`, or None without an id."""
    request_id = next(
        (context.get(k) for k in ("RequestId", "OperationId") if context.get(k) not in (None, "", EMPTY_GUID)), None
    )
    entity_id = context.get("PrimaryEntityId")
    if request_id is None or entity_id in (None, ""):
        return None
    return f"{request_id}:{entity_id}:{context.get('MessageName') or ''}"


@register
class Dynamics(SourceType):
    """Dataverse webhook steps (Create/Update of lead, contact, …)."""

    name = "dynamics"
    # `donotphone` ("Do not allow Phone Calls", Boolean) is a column of lead and contact in
    # Dataverse; a step registered on Delete sends MessageName "Delete" with no attributes.
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "opt_out_when": [{"donotphone": True}],
        "cancel_when": [{"MessageName": "Delete"}],
    }
    retries = True  # a 4xx fails a synchronous step in the user's face; 2xx once stored
    options_schema = DynamicsOptions

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether any of the three Dataverse schemes is configured."""
        options = source.options
        return bool(options.get("webhook_key") or options.get("header") or options.get("query"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Pass when any configured scheme matches; raise AuthFailure otherwise."""
        checks: list[tuple[str | None, list[str]]] = []
        options = source.options
        if options.get("webhook_key"):
            checks.append((request.query_value(WEBHOOK_KEY_PARAM), options["webhook_key"]))
        if options.get("header"):
            checks.append((request.header(options["header"]["name"]), options["header"]["value"]))
        if options.get("query"):
            checks.append((request.query_value(options["query"]["name"]), options["query"]["value"]))
        if not checks:
            raise AuthFailure("invalid_token", "no Dataverse auth configured")
        matched, offered = False, False
        # Every check runs, so timing does not tell which scheme or secret matched.
        for given, secrets in checks:
            offered |= given is not None
            for secret in secrets:
                matched |= secrets_equal(secret, given)
        if not matched:
            raise AuthFailure("invalid_token" if offered else "missing_token")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One Record per execution context."""
        if not request.body.strip():
            raise Malformed("empty body")
        try:
            context = json.loads(request.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Malformed(f"invalid JSON: {exc}") from exc
        if not isinstance(context, dict) or "MessageName" not in context:
            raise Malformed("not a Dataverse RemoteExecutionContext (no MessageName)")
        fields = context_fields(context)
        return [Record(key=record_key(context), fields=fields, event=context.get("MessageName"))]
