"""`frontdesk eval`: quality measured on data sets, each printed as one JSON line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from frontdesk.cli_settings import fail, load_settings
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.errors import KnowledgeError

eval_app = typer.Typer(help="Measure quality on data sets.", no_args_is_help=True)


@eval_app.command("retrieval")
def eval_retrieval(
    kb: Annotated[Path, typer.Option(help="Knowledge base as JSONL.", exists=True, dir_okay=False, readable=True)],
    questions: Annotated[
        Path, typer.Option(help="Questions or dialogue turns as JSONL.", exists=True, dir_okay=False, readable=True)
    ],
) -> None:
    """Measure retrieval (lexical, dense, Frontdesk) and print one JSON object."""
    from evaluation.retrieval import run_retrieval_eval

    run_eval(lambda embedder, workdir: run_retrieval_eval(kb, questions, embedder=embedder, workdir=workdir))


@eval_app.command("intents")
def eval_intents(
    train: Annotated[Path, typer.Option(help="Labelled messages (text,label CSV).", exists=True, dir_okay=False)],
    test: Annotated[Path, typer.Option(help="Labelled messages to measure on.", exists=True, dir_okay=False)],
    skills: Annotated[
        Path | None, typer.Option(help="Skill map JSON (adds skill_accuracy).", exists=True, dir_okay=False)
    ] = None,
) -> None:
    """Train an intent classifier on one file, measure it on another, print one JSON object."""
    from agent.intents import IntentDataError
    from evaluation.intents import run_intents_eval

    embedder = embedder_from_settings()
    try:
        result = run_intents_eval(train, test, skills_json=skills, embedder=embedder)
    except (IntentDataError, ValueError) as exc:
        fail(str(exc))
    sys.stdout.write(json.dumps(result) + "\n")


@eval_app.command("dialogues")
def eval_dialogues(
    kb: Annotated[Path, typer.Option(help="Knowledge base as JSONL.", exists=True, dir_okay=False)],
    turns: Annotated[Path, typer.Option(help="Dialogue turns as JSONL.", exists=True, dir_okay=False)],
) -> None:
    """Replay dialogue turns through the offline agent and print one JSON object."""
    from evaluation.dialogues import run_dialogue_eval

    run_eval(lambda embedder, workdir: run_dialogue_eval(kb, turns, embedder=embedder, workdir=workdir))


@eval_app.command("routing")
def eval_routing(
    events: Annotated[
        Path,
        typer.Option(
            help="A day of escalations and shift changes as JSONL (python -m evaluation.routing_events).",
            exists=True,
            dir_okay=False,
        ),
    ],
    roster: Annotated[
        Path | None, typer.Option(help="Roster JSON (default: the bundled example).", exists=True, dir_okay=False)
    ] = None,
    skills: Annotated[
        Path | None, typer.Option(help="Skill map JSON to check the roster's skills against.", exists=True)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated agents' answers.")] = 7,
) -> None:
    """Replay a day of escalations with the skills policy and with round robin; print one JSON object."""
    from evaluation.routing import SimulationSettings, run_routing_eval
    from routing.roster import EXAMPLE_ROSTER, load_roster
    from routing.skillmap import SkillMap

    try:
        skill_map = SkillMap.from_file(skills) if skills is not None else None
        loaded = load_roster(roster or EXAMPLE_ROSTER, skill_map=skill_map)
        result = run_routing_eval(events, loaded, settings=SimulationSettings(seed=seed))
    except ValueError as exc:  # RosterError is a ValueError too
        fail(str(exc))
    sys.stdout.write(json.dumps(result) + "\n")


@eval_app.command("emerging")
def eval_emerging(
    stream: Annotated[
        Path,
        typer.Option(
            help="Messages as CSV: timestamp,channel,text,incident[,customer] (python -m evaluation.emerging_stream).",
            exists=True,
            dir_okay=False,
        ),
    ],
    topics: Annotated[
        Path | None,
        typer.Option(help="Labelled examples (text,label CSV) minus the stream's texts; default Banking77 train."),
    ] = None,
    intents: Annotated[
        Path | None, typer.Option(help="A trained intent model folder to place messages instead.", file_okay=False)
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="The generator's manifest (default <stream>.incidents.json if present).")
    ] = None,
    given_topics: Annotated[
        bool,
        typer.Option(
            "--given-topics",
            help="Use the stream's own topic column (generated streams have one): the detector alone, no encoding.",
        ),
    ] = False,
) -> None:
    """Replay a message stream through topics and the emerging-issue detector; print one JSON object."""
    import os

    from analytics.topics import Encode, TopicAssigner
    from evaluation.emerging import run_emerging_eval

    assigner: TopicAssigner | None = None
    encode: Encode | None = None
    if not given_topics:  # place the messages on topics, as the service does
        embedder = embedder_from_settings()
        encode = embedder.embed_documents
        if intents is not None:
            from agent.intents import IntentClassifier
            from frontdesk.emerging_topics import IntentTopicAssigner

            assigner = IntentTopicAssigner(IntentClassifier.load(intents, embedder=embedder))
        elif topics is None:
            shared = Path(
                os.environ.get("FRONTDESK_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
            )
            topics = shared / "banking77" / "train.csv"
            if not topics.is_file():
                fail(f"no labelled topics at {topics}: pass --topics FILE.csv or --intents DIR")
    try:
        result = run_emerging_eval(
            stream, assigner, encode=encode, topics_csv=topics, manifest=manifest, given=given_topics
        )
    except (ValueError, OSError) as exc:
        fail(str(exc))
    sys.stdout.write(json.dumps(result) + "\n")


def run_eval(run: Callable[[SentenceTransformerEmbedder, Path], Mapping[str, object]]) -> None:
    """Run an evaluation in a temporary working folder and print its result as one JSON line."""
    import tempfile

    embedder = embedder_from_settings()
    try:
        with tempfile.TemporaryDirectory(prefix="frontdesk-eval-") as tmp:
            result = run(embedder, Path(tmp))
    except (KnowledgeError, ValueError) as exc:
        fail(str(exc))
    sys.stdout.write(json.dumps(result) + "\n")


def embedder_from_settings() -> SentenceTransformerEmbedder:
    settings = load_settings()
    try:
        return SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
    except KnowledgeError as exc:
        fail(str(exc))
