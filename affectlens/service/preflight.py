"""What ``affectlens serve`` would fail on once started, checked before anything starts: by
``serve`` itself (exit status 2, one line a problem) and by ``serve --check``.

The site config's validation (site.py) judges each value alone and does no I/O; these checks
need the machine: the database driver is installed, the TLS certificate and key are readable
PEM and belong together, the host and port can be listened on, and Ray is installed for a
cluster. Without them a
``mysql://`` URL ended in a ModuleNotFoundError traceback, a DER certificate in an SSLError,
and a port in use kept the process alive for a minute before it exited 3.
"""

from __future__ import annotations

import errno
import importlib.util
import re
import socket
import ssl
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from affectlens.service.site import ClusterConfig, SiteConfig, TlsConfig

SUPPORTED_DATABASES = ("sqlite", "postgresql")  # the store's migrations and queries know these
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PEM_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")


def serving_problems(site: SiteConfig, config: Path) -> list[str]:
    """One line per problem, each naming the config file and the setting; [] when ``serve``
    can start. ``site`` is as ``load_site`` returns it (paths resolved)."""
    found = [database_problem(site.database_url), tls_problem(site.tls),
             listen_problem(site.host, site.port), cluster_problem(site.cluster)]
    return [f"{config}: {problem}" for problem in found if problem is not None]


def cluster_problem(cluster: ClusterConfig) -> str | None:
    """Ray is installed when the workers are to run on a cluster (it is an optional extra;
    found without importing it, which takes seconds)."""
    if cluster.engine == "ray" and importlib.util.find_spec("ray") is None:
        return "cluster.engine: ray is not installed: pip install 'affectlens[cluster]'"
    return None


def database_problem(url: str) -> str | None:
    """The URL names a supported database whose driver is installed. (Reaching the database
    is the store's job when it opens: exit status 1 with its reason.)"""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return ("database_url: not a database URL (postgresql+psycopg://user:password@host/db, "
                "or a SQLite file path)")
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        return (f"database_url: {backend!r} databases are not supported; use "
                "postgresql+psycopg://... or a SQLite file path")
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as error:
        name = getattr(error, "name", None) or parsed.get_driver_name()
        return (f"database_url: the driver {parsed.get_driver_name()!r} is not installed "
                f"(no module {name!r}); for PostgreSQL use postgresql+psycopg://...")
    return None


def tls_problem(tls: TlsConfig | None) -> str | None:
    """Both files readable, PEM, the key unencrypted and the certificate's own, loaded the
    way uvicorn will load them."""
    if tls is None:
        return None
    contents: dict[str, bytes] = {}
    for name in ("certfile", "keyfile"):
        path = Path(getattr(tls, name))
        try:
            contents[name] = path.read_bytes()
        except OSError as error:
            return f"tls.{name}: cannot read {path}: {error.strerror or error}"
    if _PEM_CERTIFICATE not in contents["certfile"]:
        return (f"tls.certfile: {tls.certfile} is not a PEM certificate (text starting "
                "'-----BEGIN CERTIFICATE-----'; convert DER with openssl x509 -inform der)")
    if not _PEM_KEY.search(contents["keyfile"]):
        return f"tls.keyfile: {tls.keyfile} is not a PEM private key"
    if b"ENCRYPTED" in contents["keyfile"]:
        return (f"tls.keyfile: {tls.keyfile} is encrypted; serve needs the key without a "
                "passphrase (protect the file by its permissions)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile, password=lambda: b"")
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error):
            return f"tls.keyfile: {tls.keyfile} is not the key of the certificate in certfile"
        return f"tls: the certificate and key cannot be used: {error.reason or error}"
    return None


def listen_problem(host: str, port: int) -> str | None:
    """``host`` resolves to addresses of this machine and ``port`` is free on each, tried as
    asyncio's server (uvicorn) binds them: every address the name resolves to, with
    SO_REUSEADDR."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return f"host: {host!r} cannot be resolved: {getattr(error, 'strerror', None) or error}"
    for family, kind, protocol, _, address in dict.fromkeys(addresses):
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return _bind_problem(host, port, address[0], error)
    return None


def _bind_problem(host: str, port: int, address: str, error: OSError) -> str:
    shown = host if host == address else f"{host} ({address})"
    if error.errno == errno.EADDRINUSE:
        return (f"port: {port} is in use on {shown} (another program, or affectlens already "
                "running)")
    if error.errno == errno.EADDRNOTAVAIL:
        return f"host: {shown} is not an address of this machine"
    if error.errno == errno.EACCES:
        return f"port: {port} needs privileges on {shown} (ports below 1024)"
    return f"host: cannot listen on {shown} port {port}: {error.strerror or error}"
