"""Apprise URLs, checked and shown without their secrets: the site config checks each one
at load (so ``serve --check`` refuses a bad one), and dead letters and logs name each by
its privacy form. Apprise is imported only when a URL is met."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

from affectlens.privacy.policy import redact_url


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Apprise logs a URL it cannot parse whole, secrets and all: not while we parse."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_apprise_url(url: str) -> str:
    """The URL when Apprise can notify through it; else ValueError naming only its scheme
    (the rest may be a secret)."""
    import apprise  # here: site.py checks URLs, and `affectlens --help` loads no Apprise

    with quiet():
        service = apprise.Apprise.instantiate(url)
    if service is None:
        scheme = urlsplit(url).scheme if "://" in url else ""
        named = f"scheme {scheme!r}" if scheme and scheme.isalnum() else "no scheme"
        raise ValueError(f"not a URL Apprise can notify through ({named}; the URL itself is "
                         "not shown: it may hold a secret); see Apprise's list of services "
                         "and their URL forms")
    return url


def privacy_label(url: str) -> str:
    """``tgram://1...p``: the service and host of Apprise's own form with its secrets elided,
    any password in it ``***``. Not the path nor the options: a JSON or form endpoint may be
    a secret path (``json://hooks.example/T0/B0/XXXX``) that Apprise does not elide."""
    import apprise  # here: site.py checks URLs, and `affectlens --help` loads no Apprise

    with quiet():
        service = apprise.Apprise.instantiate(url)
    shown = service.url(privacy=True) if service is not None else "(not a valid URL)"
    return redact_url(urlsplit(shown)._replace(path="", query="", fragment="").geturl())
