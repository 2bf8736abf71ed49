"""Shared fixtures: the embedding model (loaded once), databases (SQLite and PostgreSQL) and servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from fakes.gemini import FakeGemini

from agent.agent import AgentDeps, SupportAgent
from agent.escalation import EscalationPolicy
from agent.extractive import ExtractiveWriter
from frontdesk import db
from frontdesk.runtime import DEMO_KB
from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FRONTDESK_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTGRES_ADMIN_URL = os.environ.get("FRONTDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Every table, emptied after each PostgreSQL test (children before parents).
TABLES = (
    "analytics_deliveries",
    "analytics_alerts",
    "analytics_events",
    "console_notes",
    "console_sessions",
    "console_sign_in_delays",
    "console_accounts",
    "api_keys",
    "routing_events",
    "routing_offers",
    "routing_tickets",
    "routing_agents",
    "routing_teams",
    "kb_sentence_vectors",
    "kb_chunks",
    "kb_documents",
    "kb_revision",
    "delivery_status",
    "outbox_templates",
    "outbox",
    "pending_replies",
    "message_attachments",
    "inbound_receipts",
    "conversation_keys",
    "messages",
    "conversations",
)
POSTGRES_HELP = (
    "PostgreSQL is not answering on 127.0.0.1:5432 (database 'test', trust auth). Start it with: "
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real offline all-MiniLM-L6-v2 model, loaded once per test session."""
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def demo_knowledge(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Iterator[KnowledgeBase]:
    """The bundled demo help centre in an embedded Chroma folder, ingested once per test session."""
    folder = tmp_path_factory.mktemp("demo-kb")
    engine = db.create_engine(f"sqlite:///{folder / 'kb.db'}")
    db.upgrade(engine)
    kb = KnowledgeBase(catalog=Catalog(engine), store=ChromaVectorStore(path=folder / "chroma"), embedder=embedder)
    kb.ingest([str(DEMO_KB)])
    yield kb
    engine.dispose()


@pytest.fixture(scope="session")
def demo_agent(demo_knowledge: KnowledgeBase, embedder: SentenceTransformerEmbedder) -> SupportAgent:
    """The offline support agent over the demo help centre."""
    return SupportAgent(
        AgentDeps(
            knowledge=demo_knowledge,
            policy=EscalationPolicy(),
            offline=ExtractiveWriter(embedder=embedder, sentences=demo_knowledge.sentences),
        )
    )


@pytest.fixture(scope="session")
def fake_gemini_server() -> Iterator[FakeGemini]:
    """A fake Gemini HTTP server on 127.0.0.1 for the whole session (see tests/fakes/gemini.py)."""
    with FakeGemini() as server:
        yield server


@pytest.fixture
def fake(fake_gemini_server: FakeGemini) -> FakeGemini:
    """The fake Gemini server with no recorded requests and nothing scripted."""
    fake_gemini_server.reset()
    return fake_gemini_server


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"the shared data sets are missing: expected {SHARED_DATA} (../shared/data beside the checkout, "
            "or set FRONTDESK_SHARED_DATA)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (127.0.0.1:6379, database 15 by default, or FRONTDESK_TEST_REDIS_URL)."""
    import redis

    url = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        # Rate limits count in Redis for an hour: a run starts from none of an earlier run's counts.
        from frontdesk.rate_limits import KEY_PREFIX

        for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
            client.delete(key)
    except redis.exceptions.RedisError as exc:
        pytest.fail(
            f"Redis is not answering at {url} ({exc}). Start it with 'redis-server --daemonize yes' "
            "(Debian: 'apt-get install -y redis-server && service redis-server start'), or point "
            "FRONTDESK_TEST_REDIS_URL at one."
        )
    return url


@contextmanager
def fresh_postgres_database(prefix: str = "frontdesk_test") -> Iterator[str]:
    """A new, empty PostgreSQL database for the block (its URL), dropped afterwards even while connected."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{POSTGRES_HELP}\n({exc.orig})")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def scratch_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (for servers that keep connections open across the test)."""
    with fresh_postgres_database("frontdesk_scratch") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated engine, once on SQLite and once on PostgreSQL (tables emptied after the test)."""
    if request.param == "sqlite":
        eng = db.create_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
        db.upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    eng = db.create_engine(url)
    db.upgrade(eng)
    try:
        yield eng
    finally:
        with eng.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)}"))
        eng.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which no test passed fails loudly instead of passing silently."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter is not None else 0
    if passed == 0 and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        if reporter is not None:
            reporter.write_line("error: no test passed in this run (nothing selected, or everything skipped)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
