"""Knowledge-base benchmark: ingest throughput and search latency at several knowledge-base sizes.

Run: .venv/bin/python benchmarks/knowledge_bench.py [--sizes 1000,10000,100000] [--queries 200]

The corpus is built from real public text under ../shared/data (DSTC11 reviews and FAQs, StackFAQ
answers, Banking77 and CLINC150 messages): each synthetic document joins sentences drawn with a fixed
seed, so every size has about the requested number of chunks of realistic length. Queries are the
StackFAQ dev questions and DSTC11 dev turns. In the same run it measures two baselines: the query
encoder alone (one query at a time) and an exact numpy dot-product search over the same vectors, and
prints each figure as a median with its ratio to the baselines.

Embedding a ~600-character chunk costs about 30 ms of CPU here, so a 100k-chunk ingest would spend
about an hour in the encoder alone. Sizes above --embed-limit (default 10000) therefore reuse the
vectors of the first --embed-limit distinct texts: each further chunk repeats one of those texts
with a copy number appended and gets that text's vector with a tiny random perturbation
(re-normalised). Such rows measure search latency and index size honestly but not ingest
throughput, which is printed as null for them.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from frontdesk import db
from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.chunking import blocks_from_paragraphs
from knowledge.documents import Document, Turn
from knowledge.embeddings import Matrix, SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def sentence_pool() -> list[str]:
    pool: list[str] = []
    for name in ("dstc11/kb.jsonl", "stackfaq/kb.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            pool.extend(s.strip() for s in record["text"].replace("\n", " ").split(". ") if len(s.strip()) > 20)
    for name in ("banking77/train.csv", "clinc150/train.csv"):
        with (DATA / name).open(encoding="utf-8") as fh:
            pool.extend(row["text"] for row in csv.DictReader(fh))
    return pool


_COPY = re.compile(r" \[copy \d+\]")


class ReusingEmbedder:
    """Embeds the first `limit` distinct base texts for real; copies ("... [copy N]") reuse their vector."""

    def __init__(self, inner: SentenceTransformerEmbedder, seed: int = 3) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.cache: dict[str, Matrix] = {}
        self.rng = np.random.default_rng(seed)

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        bases = [_COPY.sub("", t) for t in texts]
        missing = sorted({b for b in bases if b not in self.cache})
        if missing:
            self.cache.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        out = np.stack([self.cache[b] for b in bases]).astype(np.float32)
        copies = np.array([" [copy " in t for t in texts])
        if copies.any():
            out[copies] += self.rng.normal(scale=0.01, size=(int(copies.sum()), out.shape[1])).astype(np.float32)
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        return self.inner.embed_queries(texts)


def corpus(n_chunks: int, pool: list[str], seed: int = 13, embed_limit: int | None = None) -> list[Document]:
    """Documents of one ~600-character paragraph each (one chunk per document).

    Beyond `embed_limit` documents, texts and titles repeat the first ones with a copy number.
    """
    rng = random.Random(seed)
    docs: list[Document] = []
    for i in range(n_chunks):
        if embed_limit is not None and i >= embed_limit:
            base = docs[i % embed_limit]
            copy = i // embed_limit
            docs.append(
                Document(
                    id=f"bench-{i:06d}",
                    title=f"{base.title} [copy {copy}]",
                    blocks=blocks_from_paragraphs(f"{base.text} [copy {copy}]"),
                    source="bench",
                    metadata={"language": "en" if i % 4 else "de", "product": f"p{i % 7}"},
                )
            )
            continue
        text, sentences = "", []
        while len(text) < 550:
            sentences.append(rng.choice(pool).rstrip("."))
            text = ". ".join(sentences) + "."
        docs.append(
            Document(
                id=f"bench-{i:06d}",
                title=sentences[0][:60],
                blocks=blocks_from_paragraphs(text),
                source="bench",
                metadata={"language": "en" if i % 4 else "de", "product": f"p{i % 7}"},
            )
        )
    return docs


def queries(limit: int) -> list[tuple[str, list[Turn]]]:
    out: list[tuple[str, list[Turn]]] = []
    for line in (DATA / "stackfaq/questions_dev.jsonl").read_text(encoding="utf-8").splitlines():
        out.append((json.loads(line)["question"], []))
    for line in (DATA / "dstc11/turns_dev.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out.append((r["question"], [Turn(role=t["role"], text=t["text"]) for t in r["history"]][-6:]))
    random.Random(5).shuffle(out)
    return out[:limit]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed-limit", type=int, default=10_000, help="chunks embedded for real per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    embedder = SentenceTransformerEmbedder()
    pool = sentence_pool()
    qs = queries(args.queries)
    embedder.embed_queries(["warm up"])

    # Baseline 1: the query encoder alone, one query at a time (cache bypassed: distinct texts).
    encode_ms = []
    for text, _ in qs:
        t = time.perf_counter()
        embedder.embed_documents([text])
        encode_ms.append((time.perf_counter() - t) * 1000)
    encode_p50 = statistics.median(encode_ms)
    print(f"baseline encoder alone: p50 {encode_p50:.1f} ms, p95 {pct(encode_ms, 95):.1f} ms per query")

    rows = []
    for size in sizes:
        reuse = size > args.embed_limit
        docs = corpus(size, pool, embed_limit=args.embed_limit if reuse else None)
        ingest_embedder = ReusingEmbedder(embedder) if reuse else embedder
        with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
            engine = db.create_engine(f"sqlite:///{tmp}/bench.db")
            db.upgrade(engine)
            kb = KnowledgeBase(
                catalog=Catalog(engine), store=ChromaVectorStore(path=Path(tmp) / "chroma"), embedder=ingest_embedder
            )
            t = time.perf_counter()
            report = kb.ingest_documents(docs, origin="bench")
            ingest_s = time.perf_counter() - t
            chunks = report.chunks_embedded
            t = time.perf_counter()
            kb.reload()
            reload_s = time.perf_counter() - t

            # Baseline 2: exact dot product over the same vectors, query vector given.
            vectors = embedder.embed_documents([c.text for c in kb.catalog.chunks()[: min(size, 2000)]])
            matrix = np.resize(vectors, (size, vectors.shape[1])).astype(np.float32)
            qvecs = embedder.embed_queries([q for q, _ in qs])
            exact_ms = []
            for v in qvecs:
                t = time.perf_counter()
                np.argpartition(-(matrix @ v), 10)[:10]
                exact_ms.append((time.perf_counter() - t) * 1000)

            # Frontdesk search: first with questions never seen (query encoding included), then the same
            # questions again (query vectors cached: retrieval alone), then again with a metadata filter.
            fresh_ms = []
            for text, history in qs:
                t = time.perf_counter()
                kb.search(f"{text} ({size})", history=history, k=5)
                fresh_ms.append((time.perf_counter() - t) * 1000)
            retrieval_ms = []
            for text, history in qs:
                t = time.perf_counter()
                kb.search(f"{text} ({size})", history=history, k=5)
                retrieval_ms.append((time.perf_counter() - t) * 1000)
            filtered_ms = []
            for text, history in qs:
                t = time.perf_counter()
                kb.search(f"{text} ({size})", history=history, k=5, filters={"language": "en"})
                filtered_ms.append((time.perf_counter() - t) * 1000)
            engine.dispose()
        row = {
            "chunks": chunks,
            "ingest_chunks_per_s": None if reuse else round(chunks / ingest_s, 1),
            "vectors_reused": reuse,
            "index_reload_s": round(reload_s, 2),
            "search_p50_ms": round(statistics.median(fresh_ms), 1),
            "search_p95_ms": round(pct(fresh_ms, 95), 1),
            "retrieval_alone_p50_ms": round(statistics.median(retrieval_ms), 1),
            "retrieval_alone_p95_ms": round(pct(retrieval_ms, 95), 1),
            "retrieval_alone_filtered_p50_ms": round(statistics.median(filtered_ms), 1),
            "exact_numpy_p50_ms": round(statistics.median(exact_ms), 2),
            "search_p50_over_encoder_p50": round(statistics.median(fresh_ms) / encode_p50, 2),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    print()
    print(
        "| chunks | ingest chunks/s | search p50 ms | search p95 ms | retrieval alone p50 | filtered p50 | "
        "search p50 / encoder p50 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['chunks']} | {r['ingest_chunks_per_s']} | {r['search_p50_ms']} | {r['search_p95_ms']} | "
            f"{r['retrieval_alone_p50_ms']} | {r['retrieval_alone_filtered_p50_ms']} | "
            f"{r['search_p50_over_encoder_p50']} |"
        )


if __name__ == "__main__":
    main()
