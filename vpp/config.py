"""The platform's one `Settings`: every process reads it through `get_settings()`.

Variables are prefixed `VPP_` and nested sections use `__`, e.g. `VPP_MQTT__PORT=1883`.
`.env.example` lists every one of them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vpp.dispatch.settings import DispatchSettings
from vpp.ml.forecast.settings import ForecastSettings
from vpp.ml.rl.settings import RLSettings
from vpp.optimize.settings import OptimizeSettings
from vpp.shared_data import CITYLEARN, shared_data_dir

LOOPBACK = "127.0.0.1"
# The public datasets (`vpp.shared_data`): an absolute default so every process finds them
# whatever its working directory.
SHARED_DATA_DIR = shared_data_dir()


class StackSettings(BaseModel):
    """Where the local stack keeps its data and the downloads it caches."""

    data_dir: Path = Path(".vpp")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "vpp")
    keycloak_version: str = "26.5.6"
    start_timeout_s: float = 180.0


class TemporalSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 7233
    ui_port: int = 8233
    http_port: int = 7243
    metrics_port: int = 7244
    namespace: str = "vpp"
    io_task_queue: str = "vpp-io"
    ml_task_queue: str = "vpp-ml"
    # The trainings' own queue (forecast models, policies), polled by the ML worker with its
    # own activity slot: a training, hours of CPU, never holds a slot the cycles need.
    ml_train_task_queue: str = "vpp-ml-train"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}/namespaces/{self.namespace}/workflows"


class MongoSettings(BaseModel):
    """`uri` unset means the stack's own SecantusDB on `host:port`; set, it is used as is."""

    uri: SecretStr | None = None
    host: str = LOOPBACK
    port: int = 27017
    database: str = "vpp"
    telemetry_retention_days: int = 30

    @property
    def external(self) -> bool:
        return self.uri is not None

    @property
    def effective_uri(self) -> str:
        if self.uri is not None:
            return self.uri.get_secret_value()
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"


class RedisSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 6379
    db: int = 0

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


class MqttSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 1883
    topic_prefix: str = "vpp/v1"
    telemetry_qos: int = Field(default=1, ge=0, le=1)
    service_username: str = "vpp-service"
    service_password: SecretStr = SecretStr("vpp-service-dev")
    # Each node's password is derived from this secret and its id, so the broker's
    # password file and the simulator agree without a shared credentials file.
    node_secret: SecretStr = SecretStr("vpp-node-dev")
    node_accounts: int = Field(default=20_000, ge=0)
    node_id_format: str = "node-{n:05d}"
    # Mosquitto's defaults (1,000 queued, 20 in flight) drop QoS 1 messages to a slow
    # subscriber; see FACTS.md.
    max_queued_messages: int = 1_000_000
    max_inflight_messages: int = 1_000


class IngestSettings(BaseModel):
    """The telemetry ingester: MQTT subscription -> MongoDB batches + Redis live push."""

    # Empty: one ingester with a plain subscription, which Mosquitto keeps across its own
    # restarts. Set (the same on every replica) for several ingesters to split the load
    # with an MQTT 5 shared subscription; see vpp/ingest/consumer.py for the broker this
    # needs.
    share_group: str = ""
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.2, gt=0)
    # Readings held while the store is away; past this, ingest stops acknowledging and
    # the broker keeps the rest (QoS 1 back-pressure).
    max_buffered: int = Field(default=50_000, ge=1)
    # A node unheard for this long counts as offline.
    offline_after_s: float = Field(default=30.0, gt=0)
    aggregate_cache_s: float = Field(default=10.0, gt=0)
    metrics_port: int = 9101
    # This ingester's stable name (its MQTT client id is vpp-ingest-<instance>); default the
    # host name. Keep it across restarts: the broker holds the session's queue for it.
    instance: str | None = None
    # How long the broker keeps an absent ingester's session and queued readings.
    session_expiry_s: int = Field(default=86_400, ge=0)
    # How far ahead of the ingester's clock a reading may be stamped (node clock skew; a
    # simulator running faster than real time needs more).
    max_ahead_s: float = Field(default=300.0, gt=0)


class EdgeSimSettings(BaseModel):
    """The edge simulator: many simulated DER nodes in one process."""

    nodes: int = Field(default=20, ge=0)
    home_share: float = Field(default=0.5, ge=0.0, le=1.0)
    interval_s: float = Field(default=5.0, gt=0)
    # Simulated seconds per real second (1 = real time).
    speed: float = Field(default=1.0, gt=0)
    first_node: int = Field(default=1, ge=1)
    buffer_size: int = Field(default=10_000, ge=1)
    data_dir: Path = SHARED_DATA_DIR / CITYLEARN
    mqtt_enabled: bool = True
    http_fallback_url: str = "http://127.0.0.1:8000/api/telemetry"
    status_port: int = 8101
    seed: int = 7


class MetricsSettings(BaseModel):
    """Prometheus `/metrics` of the processes with no HTTP server of their own (the API
    serves it on its port, ingest on `ingest.metrics_port`, the simulator on its status
    port), and the local Prometheus that `make run-observability` starts."""

    host: str = LOOPBACK  # 0.0.0.0 in a container, so Prometheus can scrape the pod
    io_worker_port: int = 9102
    ml_worker_port: int = 9103
    # The Temporal SDK's own worker metrics: its Rust core serves them on a port of its own.
    io_worker_sdk_port: int = 9104
    ml_worker_sdk_port: int = 9105
    ack_relay_port: int = 9106
    # Not 9090: Debian's own prometheus service takes that one where systemd starts it.
    prometheus_port: int = 9190


class KeycloakSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 8080
    management_port: int = 9000
    realm: str = "vpp"
    admin_username: str = "admin"
    admin_password: SecretStr = SecretStr("admin-dev")
    dashboard_client_id: str = "vpp-dashboard"
    automation_client_id: str = "vpp-automation"
    automation_client_secret: SecretStr = SecretStr("vpp-automation-dev-secret")
    audience: str = "vpp-api"
    # Where browsers reach Keycloak, when not at host:port (behind a proxy, in Compose):
    # tokens carry this URL's realm as their issuer, so the API checks against it.
    public_url: str | None = None

    @property
    def url(self) -> str:
        """Where the platform's processes reach Keycloak (the backchannel)."""
        return f"http://{self.host}:{self.port}"

    @property
    def realm_url(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    @property
    def issuer(self) -> str:
        """The `iss` of the realm's tokens."""
        return f"{(self.public_url or self.url).rstrip('/')}/realms/{self.realm}"


class ApiSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 8000
    graphiql: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VPP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    stack: StackSettings = StackSettings()
    temporal: TemporalSettings = TemporalSettings()
    mongo: MongoSettings = MongoSettings()
    redis: RedisSettings = RedisSettings()
    mqtt: MqttSettings = MqttSettings()
    keycloak: KeycloakSettings = KeycloakSettings()
    ingest: IngestSettings = IngestSettings()
    edge_sim: EdgeSimSettings = EdgeSimSettings()
    dispatch: DispatchSettings = DispatchSettings()
    forecast: ForecastSettings = ForecastSettings()
    rl: RLSettings = RLSettings()
    optimize: OptimizeSettings = OptimizeSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _policies_learn_the_guards_band(self) -> Settings:
        # A policy learns that an action under the band leaves the node to self-consume;
        # the guard must send nothing below the same kW, or the policy acts on a wrong model.
        band = self.optimize.smallest_command_kw()
        if abs(self.rl.idle_below_kw - band) > 1e-9:
            raise ValueError(
                f"VPP_RL__IDLE_BELOW_KW ({self.rl.idle_below_kw:g}) must equal the guard's "
                f"smallest command, {band:g} kW (VPP_OPTIMIZE__KW_STEP, VPP_OPTIMIZE__MIN_KW); "
                "set it, then retrain the policies (`vpp rl train`)"
            )
        return self


def describe_invalid(exc: ValidationError) -> str:
    """One line per refused setting, named by its environment variable."""
    lines = []
    for error in exc.errors():
        variable = "VPP_" + "__".join(str(part).upper() for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(message if not error["loc"] else f"{variable}: {message}")
    return "invalid settings: " + "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    return Settings()
