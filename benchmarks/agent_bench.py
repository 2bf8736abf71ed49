"""Agent benchmark: one customer turn through the offline agent (no model call) on a 10k-chunk knowledge base.

Run: .venv/bin/python benchmarks/agent_bench.py [--chunks 10000] [--turns 300] [--keep DIR]

With --keep, the knowledge base is built in DIR once and reused by later runs with the same DIR (ingest takes
minutes at 10k chunks; the turn figures do not depend on it).

The knowledge base is the benchmark corpus of knowledge_bench.py (real public text from
../shared/data) plus the demo help centre; turns are StackFAQ dev questions and DSTC11 dev turns
(with their history). Each turn runs redaction, injection and sentiment checks, the knowledge gate,
the offline rewrite, hybrid retrieval, the extractive writer with its sentence scoring (sentence
vectors from the catalogue, computed at ingest, as the service wires it), the grounding check and the
escalation policy: everything but a model call. In the same run it measures three baselines: the
query encoder alone, the knowledge-base search alone, and the same turns with the writer encoding the
passages' sentences at question time (no stored sentence vectors; what the agent did before they
were computed at ingest). Medians and ratios printed, and the ingest time (chunk and sentence
vectors) of the knowledge base.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
from knowledge_bench import corpus, queries, sentence_pool

from agent.agent import AgentDeps, ConversationMemory, SupportAgent
from agent.escalation import EscalationPolicy
from agent.extractive import ExtractiveWriter
from frontdesk import db
from frontdesk.runtime import DEMO_KB
from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


async def run_turns(agent: SupportAgent, turns: list[tuple[str, list]], salt: str) -> list[float]:
    times = []
    for i, (text, history) in enumerate(turns):
        start = time.perf_counter()
        await agent.reply(f"{text} {salt}{i}" if salt else text, ConversationMemory(history=tuple(history)))
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None, help="Build the knowledge base here once and reuse it.")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    turns = queries(args.turns)
    with tempfile.TemporaryDirectory(prefix="frontdesk-agent-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / f"built-{args.chunks}"
        engine = db.create_engine(f"sqlite:///{folder}/bench.db")
        db.upgrade(engine)
        kb = KnowledgeBase(catalog=Catalog(engine), store=ChromaVectorStore(path=folder / "chroma"), embedder=embedder)
        ingest_s: float | None = None
        if not marker.exists():
            start = time.perf_counter()
            kb.ingest([str(DEMO_KB)])
            kb.ingest_documents(corpus(args.chunks, sentence_pool()), origin="bench")
            ingest_s = time.perf_counter() - start
            marker.write_text(f"{ingest_s:.1f}\n", encoding="utf-8")
        n_chunks = len(kb.catalog.chunks())
        agent = SupportAgent(
            AgentDeps(
                knowledge=kb,
                policy=EscalationPolicy(),
                offline=ExtractiveWriter(embedder=embedder, sentences=kb.sentences),  # as frontdesk.runtime wires it
            )
        )
        # Baseline: the same agent with no stored sentence vectors (encoded at question time, kept in memory).
        baseline = SupportAgent(
            AgentDeps(knowledge=kb, policy=EscalationPolicy(), offline=ExtractiveWriter(embedder=embedder))
        )
        anyio.run(run_turns, agent, turns[:10], "warm")

        encode_ms = []
        for text, _ in turns:
            start = time.perf_counter()
            embedder.embed_documents([f"{text} enc"])
            encode_ms.append((time.perf_counter() - start) * 1000)
        search_ms = []
        for i, (text, history) in enumerate(turns):
            start = time.perf_counter()
            kb.search(f"{text} s{i}", history=history, k=5)
            search_ms.append((time.perf_counter() - start) * 1000)
        fresh = anyio.run(run_turns, agent, turns, "t")  # distinct texts: nothing cached
        repeated = anyio.run(run_turns, agent, turns, "")  # the same questions again: query vectors cached
        encoded_per_turn = anyio.run(run_turns, baseline, turns, "b")
        engine.dispose()

    row = {
        "chunks": n_chunks,
        "turns": len(turns),
        "ingest_s": round(ingest_s, 1) if ingest_s is not None else "reused",
        "encoder_alone_p50_ms": round(statistics.median(encode_ms), 1),
        "search_alone_p50_ms": round(statistics.median(search_ms), 1),
        "agent_turn_p50_ms": round(statistics.median(fresh), 1),
        "agent_turn_p95_ms": round(pct(fresh, 95), 1),
        "agent_turn_repeated_question_p50_ms": round(statistics.median(repeated), 1),
        "agent_turn_repeated_question_p95_ms": round(pct(repeated, 95), 1),
        "agent_p50_over_search_p50": round(statistics.median(fresh) / statistics.median(search_ms), 2),
        "baseline_sentences_encoded_per_turn_p50_ms": round(statistics.median(encoded_per_turn), 1),
        "baseline_sentences_encoded_per_turn_p95_ms": round(pct(encoded_per_turn, 95), 1),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
