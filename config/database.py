"""DATABASE_URL: normalising Heroku's form, refusing schemes without a driver, phrasing connection failures."""

from __future__ import annotations

import re

from config.errors import ConfigError

# Database URL schemes leadrelay ships a driver for (after normalize_database_url).
DATABASE_SCHEMES = ("sqlite", "postgresql+psycopg")


def normalize_database_url(url: str) -> str:
    """Accept Heroku's postgres:// and plain postgresql:// and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def database_error(url: str, exc: BaseException) -> ConfigError:
    """A database that cannot be reached or opened, as one line naming where and the fix."""
    from sqlalchemy.engine import make_url

    reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0]
    reason = re.sub(r'^(connection failed: )?(connection to server at "[^"]*", port \d+ failed: )?', "", reason)
    reason = re.sub(r"\s+", " ", reason).strip()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return ConfigError(
            "environment",
            "DATABASE_URL",
            f"cannot open the SQLite file {parsed.database} ({reason})",
            "create its directory and make it writable, or correct DATABASE_URL",
        )
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return ConfigError(
        "environment",
        "DATABASE_URL",
        f"cannot connect to PostgreSQL at {where} ({reason})",
        "start PostgreSQL there (or open the network path to it), or correct the host, port, "
        "user and password in DATABASE_URL",
    )


def check_database_scheme(url: str) -> None:
    """Refuse a DATABASE_URL leadrelay has no driver for, before SQLAlchemy fails on a missing module."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        given = scheme or url[:20]
        raise ConfigError(
            "environment",
            "DATABASE_URL",
            f"{given!r} is not a supported database",
            "use postgresql://user:password@host:5432/dbname (postgres:// is fine) or "
            "sqlite:////absolute/path.db, or unset it for the SQLite file in instance/",
        )
