"""A running `frontdesk serve` to attack over real HTTP on 127.0.0.1, the way an outsider would.

`service` is one process for the whole test session (started once: loading the model and ingesting the demo
help centre take seconds), so attacks must leave it as they found it; `start_service(**env)` starts another
with its own settings, stopped after the test.
Each attack test checks three things: the right 4xx, nothing changed, and the service still answering.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fakes.network import free_port

ADMIN_TOKEN = "attack-tests-admin-" + "k" * 24  # 43 characters: a valid bootstrap key
REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningService:
    """One `frontdesk serve` process: its base URL, data folder, environment and log."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['FRONTDESK_ADMIN_TOKEN']}"}

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def assert_responsive(self, within: float = 2.0) -> None:
        """`/healthz` answers quickly: the attack did not freeze or kill the service."""
        if self.process.poll() is not None:
            pytest.fail(f"the service exited with {self.process.returncode}:\n{self.log_tail()}")
        started = time.monotonic()
        response = httpx.get(f"{self.base_url}/healthz", timeout=within)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert elapsed < within, f"/healthz took {elapsed:.2f} s"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `frontdesk ARGS` against this service's data folder and settings."""
        result = subprocess.run(
            [sys.executable, "-m", "frontdesk.cli", *args],
            env=self.env,
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            pytest.fail(f"frontdesk {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _base_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    pythonpath = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "FRONTDESK_DATA_DIR": str(data_dir),
            "FRONTDESK_HOST": "127.0.0.1",
            "FRONTDESK_PORT": str(port),
            "FRONTDESK_ADMIN_TOKEN": ADMIN_TOKEN,
            "FRONTDESK_WEBCHAT_SECRET": secrets.token_urlsafe(32),
            "FRONTDESK_ANALYTICS_KEY": secrets.token_urlsafe(32),
            "FRONTDESK_LOG_LEVEL": "warning",
        }
    )
    return env


def launch(folder: Path, overrides: dict[str, str | None] | None = None, *, seconds: float = 420.0) -> RunningService:
    """Start `frontdesk serve` with its data in `folder` and wait until `/healthz` answers."""
    port = free_port()
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _base_env(data_dir, port)
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    log = folder / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "frontdesk.cli", "serve"],
        env=env,
        cwd=folder,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = RunningService(f"http://127.0.0.1:{port}", data_dir, env, log, process)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"frontdesk serve exited with {process.returncode}:\n{service.log_tail()}")
        try:
            if httpx.get(f"{service.base_url}/healthz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop(service)
    pytest.fail(f"frontdesk serve did not answer within {seconds:.0f} s:\n{service.log_tail()}")


def stop(service: RunningService) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(timeout=10)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """`frontdesk serve` on the embedded defaults (SQLite, local Chroma, offline answerer, demo help centre)."""
    running = launch(tmp_path_factory.mktemp("served"))
    yield running
    stop(running)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., RunningService]]:
    """Start another `frontdesk serve` with extra environment variables (None removes one)."""
    started: list[RunningService] = []

    def start(**overrides: str | None) -> RunningService:
        running = launch(tmp_path / f"service-{len(started)}", dict(overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        stop(running)


@pytest.fixture(scope="session")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service of its own for the schema-driven run, whose random uploads must not reach `service`."""
    running = launch(tmp_path_factory.mktemp("fuzzed"))
    yield running
    stop(running)
