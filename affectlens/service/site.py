"""The site config of ``affectlens serve``: one YAML file, checked strictly, with environment
overrides.

Every key is validated by pydantic; unknown keys are refused. A mistake is reported as
``site.yaml: cameras[1].url: scheme must be one of ...`` (file, field, what is wrong).

Environment overrides: ``AFFECTLENS_<FIELD>`` replaces a top-level field, and ``__`` goes one
level down: ``AFFECTLENS_DATABASE_URL``, ``AFFECTLENS_HOST``, ``AFFECTLENS_PORT``,
``AFFECTLENS_LOG__FORMAT=json``, ``AFFECTLENS_ALERTS__MQTT__PASSWORD``. Values are strings,
converted like the YAML's (``8081`` becomes a port number). Variables whose first part is not a
field (``AFFECTLENS_TEST_POSTGRES_URL``) are ignored. Lists (cameras, webhooks) are set in the
file only.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from affectlens.config import AnalysisConfig, refuse_hard_lines
from affectlens.errors import AffectlensError
from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings
from affectlens.privacy.masks import Masks
from affectlens.privacy.retention import Retention, RetentionPolicy
from affectlens.service.apprise_urls import check_apprise_url
from affectlens.service.schemas import CameraName, DisplayName, Slug, check_stream_url
from affectlens.store.db import slugify, sqlite_url
from affectlens.store.schema import DEFAULT_FPS, FALLS_DEFAULT_FPS
from affectlens.types import doubled
from affectlens.vocabulary import EventKind, Purpose

ENV_PREFIX = "AFFECTLENS_"
# AnalysisConfig settings that mean nothing to a live worker (it analyses one frame at a time,
# of a camera's own rate and purpose, and watches for falls only where its camera says so).
OFFLINE_ONLY = frozenset({"purpose", "min_group", "statistics_every_s", "fps", "max_image_side",
                          "batch_frames", "pose", "falls", "distress", "voice"})
MAX_PATH = 4096  # Linux's PATH_MAX
MAX_URL = 2000
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def check_host(value: str) -> str:
    """An IP address or a DNS name (RFC 1123 labels, 253 characters at most): anything else
    would reach the resolver, and a 200,000-character name made uvicorn fail in a loop."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError("must be an IP address or a host name (letters, digits, '-' and "
                         "'.', at most 253 characters)")
    return value


def check_proxy(value: str) -> str:
    """An address or a network (``10.0.0.0/8``) whose X-Forwarded-* headers are believed."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value[:100]!r} is not an IP address or network (e.g. 127.0.0.1 "
                         "or 10.0.0.0/8); '*' is refused: it would let any client choose "
                         "its own address") from None
    single = network.prefixlen == network.max_prefixlen
    return str(network.network_address) if single else str(network)


# "auto" (the cluster this machine's `ray start` joined), or the head's GCS address.
_CLUSTER_ADDRESS = re.compile(r"^(auto|[A-Za-z0-9.\-\[\]:]+:\d{1,5})$")


def check_cluster_address(address: str) -> str:
    """``auto`` or ``host:port``, the address `ray start --head` printed. Ray Client
    addresses (``ray://``) are refused: the service and the analysis run on a node of the
    cluster, where the workers' messages and results come back to (docs/cluster.md)."""
    if not _CLUSTER_ADDRESS.match(address):
        raise ValueError(f"{address[:100]!r} is not a Ray cluster address: give the head "
                         "node's host:port (e.g. 10.0.0.5:6379) or auto")
    return address


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(check_host)]
Proxy = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(check_proxy)]
Seconds = Annotated[float, Field(ge=0, le=3600)]
AppriseUrl = Annotated[str, Field(min_length=3, max_length=MAX_URL),
                       AfterValidator(check_apprise_url)]


class SiteConfigError(AffectlensError):
    """The site config cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Strict):
    name: CameraName = Field(description="Display name, unique.")
    slug: Slug | None = Field(
        None, description="The camera's key for good: the camera of this slug in the store "
        "is updated, whatever its name is now. Unset: made from the name (Room 12 -> "
        "room-12); set it before renaming a camera here.")
    url: str = Field(max_length=MAX_URL, description="rtsp://, http(s):// (MJPEG), file:// "
                     "(played in a loop) or device:///dev/videoN.")
    purpose: Purpose = Field(description="Why it is filmed: care_safety, consented_research, "
                             "or anonymous_statistics (counts and age bands only).")
    analysis_fps: float = Field(
        DEFAULT_FPS, gt=0, le=30, description="Frames analysed per second; unset: "
        f"{DEFAULT_FPS:g}, or {FALLS_DEFAULT_FPS:g} on a camera that watches for falls.")
    enabled: bool = True
    blur_faces: bool = Field(True, description="Blur faces in previews and event snapshots. "
                             "false: pictures are served unblurred, each with a FACES NOT "
                             "BLURRED banner; the change is written to the audit log.")
    distress: DistressSettings = Field(default_factory=DistressSettings)
    falls: FallSettings | None = Field(
        None, description="Falls, long lies and inactivity from body pose, with this camera's "
        "zones (bed, chair, floor polygons in pixels; zones drawn in the dashboard replace "
        "them); unset: off (no pose model loaded).")
    masks: Masks = Field(
        (), description="Privacy masks: polygons (pixels of the camera's frame) painted black "
        "in every frame before anything analyses it, so they are in no preview, snapshot or "
        "clip either (a bathroom door, a neighbour's window). A change needs a restart.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_stream_url(value)

    @property
    def key(self) -> str:
        """The slug the store knows this camera by."""
        return self.slug or slugify(self.name)

    @field_validator("purpose", mode="before")
    @classmethod
    def _hard_lines(cls, value: object) -> object:
        return refuse_hard_lines(value)

    @model_validator(mode="before")
    @classmethod
    def _falls_fps(cls, data: Any) -> Any:
        """A fall camera left at the default rate runs at FALLS_DEFAULT_FPS: at 5 frames a
        second the rule misses more falls (benchmarks/falls.py, part 1)."""
        if (isinstance(data, Mapping) and data.get("falls") is not None
                and data.get("analysis_fps") is None):
            return {**data, "analysis_fps": FALLS_DEFAULT_FPS}
        return data


class WebhookConfig(_Strict):
    url: str = Field(pattern=r"^https?://", max_length=MAX_URL,
                     description="Where events are POSTed.")
    secret: str = Field(min_length=16, max_length=1024,
                        description="HMAC-SHA256 key; share it with the receiver.")
    backoff_s: tuple[Seconds, ...] = Field((1.0, 2.0, 4.0, 8.0), max_length=20,
                                           description="Waits between attempts, seconds.")
    timeout_s: float = Field(5.0, gt=0, le=300, description="One attempt's limit, seconds.")


class MqttConfig(_Strict):
    host: Host = Field(description="The broker's address or name.")
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("affectlens", min_length=1, max_length=200, pattern=r"^[^#+\x00]+$",
                        description="Topic prefix (no MQTT wildcards).")
    username: str | None = Field(None, max_length=1024)
    password: str | None = Field(None, max_length=1024)
    timeout_s: float = Field(5.0, gt=0, le=300, description="Connect and publish limit, "
                             "seconds.")
    home_assistant: bool = Field(
        False, description="Announce each camera to Home Assistant by MQTT discovery: binary "
        "sensors fall, long lie, distress and online, and a people-in-view sensor, with their "
        "states (docs/serving.md).")
    discovery_prefix: str = Field(
        "homeassistant", min_length=1, max_length=200, pattern=r"^[^#+\x00]+$",
        description="Home Assistant's MQTT discovery prefix (its own default: homeassistant).")


class AlertRule(_Strict):
    """Which events go to which phones and chats (affectlens/service/notify.py)."""

    name: DisplayName = Field(description="Names the rule in logs and dead letters.")
    apprise: list[AppriseUrl] = Field(
        min_length=1, max_length=100, repr=False,
        description="Apprise URLs (ntfy://, pover://, tgram://, matrix://, mailto://...), "
        "each checked by Apprise at load. Secrets: never logged or shown; dead letters name "
        "them by Apprise's privacy form.")
    kinds: list[EventKind] = Field(default_factory=list, max_length=10,
                                   description="Event kinds it sends; empty: every kind.")
    cameras: list[CameraName] = Field(
        default_factory=list, max_length=1000,
        description="Camera names it sends for; empty: every camera.")
    attach_snapshot: bool = Field(True, description="Attach the event's blurred snapshot to a "
                                  "start alert where the service takes attachments (never "
                                  "from a camera that does not blur faces).")


class EscalationConfig(_Strict):
    """The second contact: gets an event's escalation alert, and nothing else."""

    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=100)
    rules: list[AlertRule] = Field(default_factory=list, max_length=100,
                                   description="Phones and chats through Apprise.")


class AlertsConfig(_Strict):
    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=100)
    mqtt: MqttConfig | None = None
    rules: list[AlertRule] = Field(default_factory=list, max_length=100,
                                   description="Phone and chat notifications through Apprise.")
    retry_for_s: float = Field(
        86400.0, ge=60, le=7 * 86400, description="How long a dead letter (an alert a "
        "target did not take after its last attempt) is retried, seconds; then it is kept "
        "as failed, shown to admins, who can replay it.")
    retry_first_wait_s: float = Field(30.0, ge=0.1, le=3600, description="Wait before a dead "
                                      "letter's first retry, seconds; it doubles each time.")
    retry_max_wait_s: float = Field(900.0, ge=0.1, le=86400, description="Longest wait "
                                    "between a dead letter's retries, seconds.")
    stop_wait_s: float = Field(
        10.0, ge=0, le=600, description="At shutdown, the longest wait for queued alerts, "
        "seconds; what is left stays in the store and goes at the next start.")
    remind_after_minutes: float = Field(
        10.0, ge=0, le=1440, description="A fall or long lie still open and not "
        "acknowledged is alerted again every this many minutes, to the same targets (a "
        "person presumed on the floor is never closed by a timeout); 0: no reminders.")
    escalate_after_minutes: float = Field(
        30.0, ge=0, le=1440, description="A fall or long lie open and not acknowledged "
        "this long is alerted once to the escalation targets; 0: never.")
    escalation: EscalationConfig = Field(
        default_factory=EscalationConfig, description="The second contact (webhooks and "
        "Apprise rules, as above).")

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, rules: list[AlertRule]) -> list[AlertRule]:
        twice = doubled(r.name for r in rules)
        if twice:
            raise ValueError(f"rule names must be unique: {', '.join(twice)}")
        return rules

    @model_validator(mode="after")
    def _waits_in_order(self) -> AlertsConfig:
        if self.retry_max_wait_s < self.retry_first_wait_s:
            raise ValueError("retry_max_wait_s is shorter than retry_first_wait_s")
        return self


class LogConfig(_Strict):
    format: Literal["text", "json"] = Field("text", description="json: one JSON object a line.")
    level: Literal["debug", "info", "warning", "error"] = "info"


class WorkersConfig(_Strict):
    preview_fps: float = Field(2.0, ge=0, le=10, description="Blurred previews a second; 0: none.")
    io_timeout_s: float = Field(5.0, gt=0, le=300,
                                description="A stream silent this long is offline, seconds.")
    poll_s: float = Field(2.0, ge=0.05, le=3600,
                          description="How often the store's cameras are checked, seconds.")
    stop_timeout_s: float = Field(15.0, gt=0, le=600,
                                  description="Graceful stop wait for workers, seconds.")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How worker processes start: from a fork server that has "
        "imported the worker code once (faster, less memory), or spawned afresh.")


class ClusterConfig(_Strict):
    """Where camera workers run (issue 15; docs/cluster.md)."""

    engine: Literal["local", "ray"] = Field(
        "local", description="local: a process per camera on this machine. ray: an actor per "
        "camera on the nodes of a Ray cluster (needs affectlens[cluster]; the service runs "
        "on a node of the cluster).")
    address: str | None = Field(
        None, min_length=1, max_length=300, description="The Ray cluster to join: the head "
        "node's host:port, or auto (the cluster this machine joined with `ray start`). "
        "Needed with engine ray.")
    num_cpus: float = Field(1.0, gt=0, le=256, description="CPUs each camera's actor asks "
                            "for; Ray places it on a node with that many free.")
    num_gpus: float = Field(0.0, ge=0, le=16, description="GPUs (or a share of one, e.g. "
                            "0.1) each camera's actor asks for: with analysis.device cuda, "
                            "so that cameras land on GPU nodes.")
    rebalance_s: float = Field(
        10.0, ge=0, le=3600, description="How often the cameras per node are compared, "
        "seconds: when a node has two or more cameras more than another one with room (a "
        "node joined), one camera is moved there (stopped, then started on that node), the "
        "others untouched. 0: cameras stay where Ray first placed them.")
    batch_models: bool = Field(
        False, description="With engine ray (ignored on one machine): one batching actor a "
        "node runs the face models (detector, "
        "expression, age) of every camera there, joining their tiles and crops into one call: "
        "for GPU nodes (analysis.device cuda), where many small calls leave the GPU idle. On "
        "CPU it adds a hop and saves little but memory (one copy of each model a node).")
    batch_max_rows: int = Field(64, ge=1, le=4096, description="With batch_models: the most "
                                "rows (tiles or face crops) joined into one model call.")
    batch_deadline_ms: float = Field(
        5.0, ge=0, le=1000, description="With batch_models: how long a call waits for other "
        "cameras' rows after the first arrived, milliseconds (added to each frame's latency "
        "at worst, per model).")

    @model_validator(mode="after")
    def _address_for_ray(self) -> ClusterConfig:
        if self.engine == "ray" and self.address is None:
            raise ValueError("engine ray needs the cluster's address (the head node's "
                             "host:port, or auto)")
        if self.address is not None:
            check_cluster_address(self.address)
        return self


class RetentionDays(_Strict):
    """How long a camera's data is kept (issue 6); open events are never deleted."""

    events_days: float = Field(90.0, gt=0, le=36500,
                               description="Ended events and health records.")
    snapshots_days: float = Field(30.0, gt=0, le=36500,
                                  description="Events' blurred snapshots and clips.")
    stats_days: float = Field(365.0, gt=0, le=36500, description="Per-minute counts.")


class RetentionConfig(_Strict):
    default: RetentionDays = Field(default_factory=RetentionDays)
    cameras: dict[str, RetentionDays] = Field(
        default_factory=dict, max_length=1000, description="Exceptions by camera slug or name "
        "(a name also matches the camera whose slug was made from it, after a rename).")
    every_s: float = Field(3600.0, ge=1, le=7 * 86400,
                           description="How often the retention job runs, seconds.")

    def policy(self) -> RetentionPolicy:
        def days(d: RetentionDays) -> Retention:
            return Retention(d.events_days, d.snapshots_days, d.stats_days)

        return RetentionPolicy(days(self.default),
                               {name: days(d) for name, d in self.cameras.items()})


class TlsConfig(_Strict):
    """HTTPS served by affectlens itself; behind a TLS-terminating proxy, leave it unset."""

    certfile: str = Field(min_length=1, max_length=MAX_PATH, description="PEM certificate "
                          "(chain), relative to the config file.")
    keyfile: str = Field(min_length=1, max_length=MAX_PATH, description="PEM private key, "
                         "unencrypted, matching the certificate; relative to the config file.")


class SiteConfig(_Strict):
    database_url: str = Field(
        "affectlens.db", min_length=1, max_length=MAX_URL,
        description="SQLAlchemy URL (postgresql+psycopg://... or sqlite:///...) or a SQLite "
        "file path, relative to the config file.")
    snapshots_dir: str = Field(
        "snapshots", min_length=1, max_length=MAX_PATH, description="Folder for events' "
        "blurred snapshots and fall clips, relative to the config file.")
    host: Host = Field("127.0.0.1", description="Interface the HTTP API listens on: an "
                       "address of this machine (0.0.0.0: all), or a name resolving to one.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP API; must be "
                      "free.")
    trusted_proxies: list[Proxy] = Field(
        default_factory=list, max_length=100,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (the client's address for login throttling and the "
        "audit log, and the scheme). Empty (the default): none, every client is the address "
        "it connects from. In the environment: comma-separated.")
    screen_min_people: int = Field(5, ge=1, le=1000,
                                   description="/screen shows nothing below this.")
    log: LogConfig = Field(default_factory=LogConfig)
    analysis: AnalysisConfig = Field(
        default_factory=AnalysisConfig,
        description="Model settings for every worker.")
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=1000)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    tls: TlsConfig | None = Field(None, description="Serve HTTPS with this certificate.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_from_text(cls, value: Any) -> Any:
        """``AFFECTLENS_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8``: a list from one variable."""
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("analysis", mode="before")
    @classmethod
    def _no_purpose_for_every_worker(cls, value: Any) -> Any:
        """Settings live workers never read are refused, not silently ignored: a camera's
        purpose, frame rate and falls are its own (``cameras[].purpose``, ``analysis_fps``,
        ``falls``), and the others apply to offline files only."""
        if isinstance(value, dict):
            offline_only = sorted(OFFLINE_ONLY & set(value))
            if offline_only:
                raise ValueError(
                    f"{', '.join(offline_only)}: offline analysis settings, not read by live "
                    "cameras; set cameras[].purpose, cameras[].analysis_fps, "
                    "cameras[].falls and cameras[].distress per camera")
        return value

    @field_validator("cameras")
    @classmethod
    def _unique_names(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        twice = doubled(c.name for c in cameras)
        if twice:
            raise ValueError(f"camera names must be unique: {', '.join(twice)}")
        twice = doubled(c.key for c in cameras)
        if twice:
            raise ValueError(f"camera slugs must be unique: {', '.join(twice)} (a slug "
                             "unset is made from the name: give these cameras a slug)")
        return cameras

    def camera(self, name: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.name == name), None)

    def server_options(self) -> dict[str, Any]:
        """uvicorn.Config's listening, TLS and proxy settings. Forwarded headers are read
        only from ``trusted_proxies``, and not at all without them: uvicorn's own default
        trusts 127.0.0.1, which let a local client (or a proxy passing the header through)
        pick a new X-Forwarded-For for every login guess and so escape the throttle."""
        tls = ({"ssl_certfile": self.tls.certfile, "ssl_keyfile": self.tls.keyfile}
               if self.tls else {})
        return {"host": self.host, "port": self.port, **tls,
                "http": "httptools", "loop": "uvloop",  # runtime dependencies (pyproject)
                "proxy_headers": bool(self.trusted_proxies),
                "forwarded_allow_ips": list(self.trusted_proxies)}



def load_site(path: Path, environ: Mapping[str, str] | None = None) -> SiteConfig:
    """Read, override from the environment, validate; raises SiteConfigError."""
    environ = os.environ if environ is None else environ
    try:
        data = yaml.safe_load(path.read_text()) if path.stat().st_size else {}
    except FileNotFoundError:
        raise SiteConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SiteConfigError(f"{path}: cannot read it: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SiteConfigError(f"{where}: not valid YAML: {getattr(error, 'problem', error)}"
                              ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SiteConfigError(f"{path}: must be a mapping of settings (key: value), "
                              f"not a {type(data).__name__}")
    sources = _override(data, environ)
    try:
        site = SiteConfig.model_validate(data)
    except ValidationError as error:
        raise SiteConfigError("\n".join(_describe(path, e, sources) for e in error.errors())
                              ) from None
    return _resolve(site, path)


def _override(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Apply AFFECTLENS_* variables to ``data``; returns field path -> variable name."""
    sources: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        if keys[0] not in SiteConfig.model_fields or not all(keys):
            continue
        target = data
        for key in keys[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[keys[-1]] = value
        sources[".".join(keys)] = name
    return sources


def _describe(path: Path, error: Any, sources: dict[str, str]) -> str:
    field = ""
    for part in error["loc"]:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    keys = [str(part) for part in error["loc"]]  # a list item's error names its variable
    origin = next((sources[k] for n in range(len(keys), 0, -1)
                   if (k := ".".join(keys[:n])) in sources), None)
    where = f"{field} (from {origin})" if origin else field or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting (check its spelling and level)"
    return f"{path}: {where}: {message}"


def _resolve(site: SiteConfig, path: Path) -> SiteConfig:
    """Paths are relative to the config file's folder; a bare database path is SQLite."""
    folder = path.parent
    changes: dict[str, Any] = {"snapshots_dir": str((folder / site.snapshots_dir).resolve())}
    if "://" not in site.database_url:
        changes["database_url"] = sqlite_url(folder / site.database_url)
    if site.tls is not None:
        files = {name: (folder / getattr(site.tls, name)).resolve()
                 for name in ("certfile", "keyfile")}
        for name, file in files.items():
            if not file.is_file():
                raise SiteConfigError(f"{path}: tls.{name}: no such file {file}")
        changes["tls"] = TlsConfig(**{k: str(v) for k, v in files.items()})
    return site.model_copy(update=changes)
