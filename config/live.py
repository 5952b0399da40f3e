"""Live mode never runs a demo: not the example file, not a source that accepts the public demo token."""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError
from config.file import FileConfig
from config.paths import ROOT

EXAMPLE_NAME = "leadrelay.example.yml"
# Values published in the repository (the example file, the README's curl): anyone can send them.
DEMO_TOKENS = frozenset({"demo-token"})


def is_example(config_path: str) -> bool:
    """Whether the path is the repository's example file (or a copy still under that name)."""
    path = Path(config_path)
    return path.name == EXAMPLE_NAME or path.resolve() == (ROOT / EXAMPLE_NAME).resolve()


def check_live(config_path: str, file_config: FileConfig) -> None:
    """Raise ConfigError when a live deployment would run the example file or accept a demo token."""
    if is_example(config_path):
        raise ConfigError(
            "environment",
            "LEADRELAY_CONFIG",
            f"live Engage with the example configuration ({config_path}), whose demo token anyone can send",
            "commit your own leadrelay.yml (copy the example; secrets as ${VAR}; docs/deploy.md), "
            "or set LEADRELAY_CONFIG to it; to try the service without dialing set ENGAGE_MODE=sandbox",
        )
    for name, source in file_config.sources.items():
        if any(token in DEMO_TOKENS for token in source.settings.tokens):
            raise ConfigError(
                config_path,
                f"sources.{name}.token",
                "the public demo token is accepted in live mode (anyone can queue leads a dialer calls)",
                "set LEADRELAY_DEMO_TOKEN (or the variable your `token:` names) to a long random string "
                "(openssl rand -hex 24), or remove `token:` and use the sender's signature",
            )
