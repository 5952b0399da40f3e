"""Prometheus metrics: one counter per outcome and failure reason."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter("leadrelay_webhooks_total", "Webhook requests by source and answer", ["source", "outcome"], registry=REGISTRY)
AUTH_FAILURES = Counter("leadrelay_auth_failures_total", "Rejected webhooks by source and reason", ["source", "reason"], registry=REGISTRY)
RECORDS = Counter("leadrelay_records_total", "Records by source and intake status", ["source", "status"], registry=REGISTRY)
ACK_SECONDS = Histogram("leadrelay_ack_seconds", "Request received → answer ready", ["source"],
                        buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=REGISTRY)
DISPATCHED = Counter("leadrelay_leads_settled_total", "Lead send outcomes", ["outcome", "sandbox"], registry=REGISTRY)
ENGAGE_CALLS = Counter("leadrelay_engage_calls_total", "Lead loader calls by result", ["result"], registry=REGISTRY)
SPEED_TO_LEAD = Histogram("leadrelay_speed_to_lead_seconds", "Webhook received → Engage accepted the lead",
                          ["priority"], buckets=(0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300), registry=REGISTRY)
IS_LEADER = Gauge("leadrelay_dispatcher_leader", "1 when this process holds the dispatcher lease", registry=REGISTRY)
SANDBOX = Gauge("leadrelay_sandbox", "1 when leads go to the sandbox (fake) Engage", registry=REGISTRY)
