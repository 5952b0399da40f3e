"""The Engage-mode rule: live with a full credential set, sandbox only on purpose or on a bare laptop."""

from __future__ import annotations

from collections.abc import Mapping

from config.errors import ConfigError

ENGAGE_CREDENTIAL_VARS = ("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT")


def decide_engage_mode(
    mode: str,
    environ: Mapping[str, str],
    has_db_url: bool,
    api_token: str | None,
    account_id: str | None,
    require_account_id: bool = True,
) -> str:
    """Sandbox is never silent, and a partial credential set is an error (README "Configuration")."""
    if mode and mode not in ("live", "sandbox"):
        raise ConfigError("environment", "ENGAGE_MODE", f"{mode!r} is not a mode", "use live or sandbox")
    rc_given = [v for v in ENGAGE_CREDENTIAL_VARS if environ.get(v)]
    rc_full = len(rc_given) == len(ENGAGE_CREDENTIAL_VARS)
    if rc_given and not rc_full:
        missing = [v for v in ENGAGE_CREDENTIAL_VARS if not environ.get(v)]
        raise ConfigError(
            "environment",
            missing[0],
            f"partial RingCentral credentials: {', '.join(missing)} not set",
            f"set {', '.join(missing)} too (or unset {', '.join(rc_given)} and use ENGAGE_API_TOKEN)",
        )
    full = rc_full or bool(api_token)
    if full and not account_id and require_account_id:
        raise ConfigError(
            "environment",
            "ENGAGE_ACCOUNT_ID",
            "Engage credentials are set but the sub-account id is not",
            "run `./leadrelay engage accounts` (Heroku: `heroku run flask --app app engage accounts`) to list the "
            "sub-accounts these credentials see, "
            "then set ENGAGE_ACCOUNT_ID to one of them (never `~`)",
        )
    if account_id == "~":
        raise ConfigError(
            "environment",
            "ENGAGE_ACCOUNT_ID",
            "`~` is a client-side placeholder Engage does not accept",
            "set the numeric sub-account id",
        )
    if mode == "live":
        if not full:
            raise ConfigError(
                "environment",
                "ENGAGE_MODE",
                "live mode needs Engage credentials",
                "set RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET, RINGCENTRAL_JWT (or ENGAGE_API_TOKEN) "
                "and ENGAGE_ACCOUNT_ID",
            )
        return "live"
    if mode == "sandbox":
        return "sandbox"
    if full:
        return "live"
    any_engage = [k for k in environ if (k.startswith("ENGAGE_") or k.startswith("RINGCENTRAL_")) and environ[k]]
    if has_db_url or any_engage:
        raise ConfigError(
            "environment",
            "ENGAGE_MODE",
            "no Engage credentials, and this does not look like a bare laptop (DATABASE_URL or ENGAGE_*/RINGCENTRAL_* set)",
            "set ENGAGE_MODE=sandbox to run without Engage on purpose, or set the Engage credentials",
        )
    return "sandbox"
