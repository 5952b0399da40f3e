"""Build the Engage side for the leader: live client (JWT or API token) or the sandbox fake."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine

from config import Settings
from dispatch.runner import Backend
from engage import fake as fake_engage
from engage.auth import ApiTokenAuth, ExchangeBudget, RingCentralJWTAuth, TokenState, TokenStore
from engage.campaigns import CampaignDirectory
from engage.client import EngageClient
from engage.fake_server import FakeServer
from engage.http import make_session
from logs import log
from store.lease import Lease, LeaseTokenStore
from store.ratelog import RateLog

logger = logging.getLogger("leadrelay.engage")


def engage_timeouts(call_timeout: float) -> tuple[float, float]:
    """Connect and read timeouts from `dispatch.call_timeout`.

    They follow Engage's latency, not the lease (the leader keeps renewing while a call is in
    flight, so a slow call costs nothing).
    """
    return min(5.0, call_timeout), call_timeout


class PersistentExchangeBudget(ExchangeBudget):
    """The 5-per-minute exchange budget, counted in the database so a new leader inherits it."""

    def __init__(self, ratelog: RateLog) -> None:
        """Seed the window with the exchanges made in the last minute (by any leader)."""
        super().__init__()
        self.ratelog = ratelog
        self.seed(ratelog.ages("exchange", self.window))

    def acquire(self) -> None:
        """Spend one exchange (or raise ExchangeThrottled) and record it."""
        super().acquire()
        self.ratelog.record("exchange")
        try:
            self.ratelog.flush()
        except Exception as exc:  # database away: the leader loop writes it later; the exchange still counts here
            log(logger, logging.WARNING, "exchange not yet recorded in the database", error=repr(exc)[:200])


def live_client(
    settings: Settings,
    token_store: TokenStore,
    timeouts: tuple[float, float],
    budget: ExchangeBudget | None = None,
) -> EngageClient:
    """An Engage client for the configured account (JWT grant + exchange, or legacy API token)."""
    session = make_session()
    # config/engage_mode.py refused live mode without a full credential set and an account id.
    assert settings.engage_account_id is not None
    auth: ApiTokenAuth | RingCentralJWTAuth
    if settings.engage_api_token:
        auth = ApiTokenAuth(settings.engage_api_token)
    else:
        assert settings.ringcentral_client_id and settings.ringcentral_client_secret and settings.ringcentral_jwt
        auth = RingCentralJWTAuth(
            server_url=settings.ringcentral_server_url,
            engage_base_url=settings.engage_base_url,
            client_id=settings.ringcentral_client_id,
            client_secret=settings.ringcentral_client_secret,
            jwt=settings.ringcentral_jwt,
            store=token_store,
            session=session,
            timeout=timeouts,
            exchange_budget=budget,
        )
    return EngageClient(
        settings.engage_base_url,
        settings.engage_account_id,
        auth,
        api_prefix=settings.engage_api_prefix,
        session=session,
        connect_timeout=timeouts[0],
        read_timeout=timeouts[1],
    )


def start_sandbox(settings: Settings) -> tuple[fake_engage.FakeEngage, FakeServer]:
    """Run the fake Engage in this process on a loopback port, seeded with the configured campaigns."""
    names = [c for c in settings.file.campaigns() if not str(c).isdigit()]
    fake = fake_engage.FakeEngage(campaigns=names or fake_engage.DEFAULT_CAMPAIGNS, strict_rate_limits=True)
    for campaign in settings.file.campaigns():
        if str(campaign).isdigit():
            fake.add_campaign(f"campaign {campaign}", campaign_id=int(campaign))
    server = fake_engage.serve(fake)
    log(logger, logging.WARNING, "SANDBOX Engage running in-process: leads are NOT dialed", url=server.url)
    return fake, server


def make_backend_factory(settings: Settings, engine: Engine) -> Callable[[Lease], Backend]:
    """Return the callable the dispatcher uses once it is leader."""
    timeouts = engage_timeouts(settings.file.dispatch["call_timeout"])

    def build(lease: Lease) -> Backend:
        """Create the client with the token kept in the lease row (a new leader reuses it)."""
        store = LeaseTokenStore(engine, lease, decode=TokenState.from_dict, encode=lambda s: s.to_dict())
        budget = PersistentExchangeBudget(RateLog(engine))
        if settings.sandbox:
            _fake, server = start_sandbox(settings)
            auth = RingCentralJWTAuth(
                server_url=server.url,
                engage_base_url=server.url,
                client_id=fake_engage.DEFAULT_CLIENT_ID,
                client_secret=fake_engage.DEFAULT_CLIENT_SECRET,
                jwt=fake_engage.DEFAULT_JWT,
                store=store,
                timeout=timeouts,
                exchange_budget=budget,
            )
            client = EngageClient(
                server.url, fake_engage.DEFAULT_ACCOUNT_ID, auth, connect_timeout=timeouts[0], read_timeout=timeouts[1]
            )
            return Backend(client=client, directory=CampaignDirectory(client), sandbox=True, close=server.stop)
        client = live_client(settings, store, timeouts, budget)
        return Backend(client=client, directory=CampaignDirectory(client), sandbox=False)

    return build
