"""One contract for every vector store: in memory, embedded Chroma and a real Chroma server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from knowledge.documents import Chunk
from knowledge.errors import KnowledgeError
from knowledge.store import ChromaVectorStore, InMemoryVectorStore, VectorStore


def _chunks(n: int, prefix: str = "d") -> list[Chunk]:
    return [
        Chunk(
            id=f"{prefix}{i}#0",
            document_id=f"{prefix}{i}",
            index=0,
            text=f"text {i}",
            title=f"title {i}",
            metadata={"language": "en" if i % 2 else "de", "product": "shop"},
        )
        for i in range(n)
    ]


def _vectors(n: int, dim: int = 16, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class VectorStoreContract:
    """Every `VectorStore` passes these."""

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        raise NotImplementedError

    def test_nearest_first_with_cosine_similarity(self, store: VectorStore) -> None:
        chunks, vectors = _chunks(20), _vectors(20)
        store.upsert(chunks, vectors)
        hits = store.query(vectors[5], 3)
        assert hits[0][0] == "d5#0"
        assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        exact = sorted(((float(vectors[i] @ vectors[5]), f"d{i}#0") for i in range(20)), reverse=True)[:3]
        assert [cid for _, cid in exact] == [cid for cid, _ in hits]

    def test_filters_restrict_results(self, store: VectorStore) -> None:
        chunks, vectors = _chunks(20), _vectors(20)
        store.upsert(chunks, vectors)
        hits = store.query(vectors[4], 5, {"language": "en"})
        assert hits and all(int(cid[1:].split("#")[0]) % 2 == 1 for cid, _ in hits)
        assert store.query(vectors[4], 5, {"language": "en", "product": "none"}) == []

    def test_upsert_replaces_and_delete_removes_documents(self, store: VectorStore) -> None:
        chunks, vectors = _chunks(6), _vectors(6)
        store.upsert(chunks, vectors)
        store.upsert(chunks[:1], vectors[3:4])
        assert store.count() == 6
        assert store.query(vectors[3], 2)[0][0] in {"d0#0", "d3#0"}
        store.delete_documents(["d3", "d0"])
        assert store.count() == 4
        assert {cid for cid, _ in store.query(vectors[3], 10)} == {"d1#0", "d2#0", "d4#0", "d5#0"}

    def test_empty_store_and_shape_check(self, store: VectorStore) -> None:
        assert store.query(_vectors(1)[0], 3) == []
        with pytest.raises(ValueError, match="one embedding row per chunk"):
            store.upsert(_chunks(2), _vectors(3))
        store.ping()


class TestInMemoryStore(VectorStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        yield InMemoryVectorStore()


class TestEmbeddedChroma(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        yield ChromaVectorStore(path=tmp_path / "chroma")

    def test_persists_across_clients(self, tmp_path: Path) -> None:
        first = ChromaVectorStore(path=tmp_path / "c", collection="persist")
        first.upsert(_chunks(3), _vectors(3))
        again = ChromaVectorStore(path=tmp_path / "c", collection="persist")
        assert again.count() == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on 127.0.0.1."""
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"`chroma run` exited with code {proc.returncode}")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("`chroma run` did not listen within 60 s")
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=20)


class TestChromaServer(VectorStoreContract):
    @pytest.fixture
    def store(self, chroma_server: tuple[str, int], request: pytest.FixtureRequest) -> Iterator[VectorStore]:
        host, port = chroma_server
        name = f"t-{abs(hash(request.node.name)) % 10**8}"
        yield ChromaVectorStore(host=host, port=port, collection=name)

    def test_unreachable_server_is_a_clear_error(self) -> None:
        with pytest.raises(KnowledgeError, match="cannot open the Chroma collection"):
            ChromaVectorStore(host="127.0.0.1", port=_free_port(), collection="nothing")


def test_exactly_one_location_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of path"):
        ChromaVectorStore()
    with pytest.raises(ValueError, match="exactly one of path"):
        ChromaVectorStore(path=tmp_path, host="127.0.0.1")
