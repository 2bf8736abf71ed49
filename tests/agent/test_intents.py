"""The intent classifier: training, out-of-scope detection, save/load, CSV reading and the skill map."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.intents import OOS_LABEL, IntentClassifier, IntentConfig, IntentDataError, load_labelled_csv
from agent.intents.background import far_from_training, load_background
from agent.intents.encoder import IntentEncoder, softmax
from agent.intents.training import _mixed_outliers
from agent.skills import Skill, SkillMap, SkillMapError
from knowledge.embeddings import SentenceTransformerEmbedder, resolve_model_path

TINY = IntentConfig(tuned_layers=1, epochs=2, min_steps=0, threads=1)
INTENTS = ("MATTRESS_COST", "CANCEL_ORDER", "EMI", "WARRANTY", "ORDER_STATUS", "PILLOWS")


@pytest.fixture(scope="module")
def small_set(shared_data: Path) -> tuple[list[str], list[str]]:
    """Eight training phrases of each of six SOF Mattress intents."""
    data = load_labelled_csv(shared_data / "hint3" / "sofmattress_train.csv")
    texts: list[str] = []
    labels: list[str] = []
    for intent in INTENTS:
        chosen = [text for text, label in zip(data.texts, data.labels, strict=True) if label == intent][:8]
        texts += chosen
        labels += [intent] * len(chosen)
    return texts, labels


@pytest.fixture(scope="module")
def classifier(small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder) -> IntentClassifier:
    texts, labels = small_set
    return IntentClassifier.train(texts, labels, embedder=embedder, config=TINY)


def test_predicts_an_in_scope_paraphrase(classifier: IntentClassifier) -> None:
    prediction = classifier.predict("I want to cancel the order I placed yesterday")
    assert prediction.intent == "CANCEL_ORDER"
    assert not prediction.out_of_scope
    assert 0 < prediction.confidence <= 1
    assert len(prediction.alternatives) == 3
    assert all(name in INTENTS and name != "CANCEL_ORDER" for name, _ in prediction.alternatives)


def test_unrelated_message_is_out_of_scope(classifier: IntentClassifier) -> None:
    prediction = classifier.predict("what will the weather be like in Paris tomorrow?")
    assert prediction.out_of_scope
    assert prediction.intent == OOS_LABEL
    assert prediction.alternatives and prediction.alternatives[0][0] in INTENTS


def test_save_and_load_predict_identically(
    classifier: IntentClassifier, embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    messages = ["how much does the mattress cost", "do you sell pillows", "tell me a joke", "where is my order"]
    classifier.save(tmp_path / "model")
    loaded = IntentClassifier.load(tmp_path / "model", embedder=embedder)
    assert loaded.labels == classifier.labels
    assert loaded.threshold == classifier.threshold
    assert loaded.predict_many(messages) == classifier.predict_many(messages)
    assert not list((tmp_path / "model").glob("*.pkl"))


def test_the_vote_and_the_lexical_model_pick_the_intent_and_agreement_alone_keeps_a_message_in_scope(
    classifier: IntentClassifier, small_set: tuple[list[str], list[str]]
) -> None:
    messages = [*small_set[0][::5], "tell me a joke", "what's the capital of Peru", "my bed is too soft, pillows?"]
    scores = classifier.scores(messages)
    assert scores.lexical is not None and np.allclose(scores.lexical.sum(axis=1), 1.0, atol=1e-4)
    assert not np.allclose(scores.head, scores.choice), "the vote and the lexical model move the probabilities"
    voted = classifier.predict_many(messages)
    alone = [classifier.decide(row, float(score)) for row, score in zip(scores.head, scores.similarity, strict=True)]
    for mixed, head_only, words, head in zip(voted, alone, scores.lexical, scores.head, strict=True):
        if mixed.out_of_scope != head_only.out_of_scope:  # only an agreement of the two models accepts more
            assert head_only.out_of_scope and int(np.argmax(words)) == int(np.argmax(head))
    assert sum(p.out_of_scope for p in voted) <= sum(p.out_of_scope for p in alone)
    picked = [classifier.labels[int(np.argmax(np.where(classifier._in_scope, row, -1)))] for row in scores.choice]
    assert [p.intent for p in voted] == [
        OOS_LABEL if p.out_of_scope else label for p, label in zip(voted, picked, strict=True)
    ]


def test_lexical_agreement_accepts_a_far_message_only_when_both_models_name_its_intent(
    classifier: IntentClassifier,
) -> None:
    probabilities = np.zeros(len(classifier.labels), dtype=np.float32)
    cancel, emi = classifier.labels.index("CANCEL_ORDER"), classifier.labels.index("EMI")
    probabilities[[cancel, emi]] = 0.25, 0.2  # the head is unsure
    far = classifier.threshold - 0.1
    words = np.zeros_like(probabilities)
    assert classifier.decide(probabilities, far).out_of_scope
    words[[cancel, emi]] = 0.6, 0.4
    assert classifier.decide(probabilities, far, lexical=words).intent == "CANCEL_ORDER"
    words[[cancel, emi]] = 0.4, 0.6  # the lexical model names another intent
    assert classifier.decide(probabilities, far, lexical=words).out_of_scope
    words[:] = 0.0
    words[cancel] = classifier.config.lexical_agreement / 2  # too little to count
    words[emi] = classifier.config.lexical_agreement / 4
    assert classifier.decide(probabilities, far, lexical=words).out_of_scope


def test_a_classifier_without_the_lexical_model(
    small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    texts, labels = small_set
    model = IntentClassifier.train(texts, labels, embedder=embedder, config=replace(TINY, lexical_weight=0.0))
    assert model.scores(["do you sell pillows"]).lexical is None
    model.save(tmp_path / "plain")
    assert not (tmp_path / "plain" / "lexical.json").exists()
    loaded = IntentClassifier.load(tmp_path / "plain", embedder=embedder)
    assert loaded.predict("do you sell pillows") == model.predict("do you sell pillows")


def test_load_refuses_another_model_or_a_damaged_folder(
    classifier: IntentClassifier, embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    class OtherEmbedder:
        name = "some-other-model"
        dimension = 384

    classifier.save(tmp_path / "model")
    with pytest.raises(ValueError, match="some-other-model"):
        IntentClassifier.load(tmp_path / "model", embedder=OtherEmbedder())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a saved intent classifier"):
        IntentClassifier.load(tmp_path / "missing", embedder=OtherEmbedder())  # type: ignore[arg-type]
    lexical = tmp_path / "model" / "lexical.json"
    lexical.write_text('{"word": ["only one term"], "char": []}')
    with pytest.raises(ValueError, match="incomplete or from another version.*vocabularies"):
        IntentClassifier.load(tmp_path / "model", embedder=embedder)
    lexical.unlink()
    with pytest.raises(ValueError, match="incomplete or from another version"):
        IntentClassifier.load(tmp_path / "model", embedder=embedder)
    classifier.save(tmp_path / "model")
    metadata = tmp_path / "model" / "intents.json"
    metadata.write_text(metadata.read_text().replace('"epochs"', '"rounds"'))
    with pytest.raises(ValueError, match="incomplete or from another version"):
        IntentClassifier.load(tmp_path / "model", embedder=embedder)


def test_oos_training_examples_become_a_class(
    small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder
) -> None:
    texts, labels = small_set
    oos = ["what is the capital of france", "play some jazz music", "how tall is mount everest", "tell me a joke"]
    model = IntentClassifier.train(
        texts + oos, labels + ["NO_NODES_DETECTED", "oos", "oos", "oos"], embedder=embedder, config=TINY
    )
    assert OOS_LABEL in model.labels
    assert OOS_LABEL not in model.intents
    assert model.summary["oos_examples"] == 4
    assert model.predict("who wrote the song yesterday, play it").out_of_scope


def test_background_messages_are_taught_as_out_of_scope(
    classifier: IntentClassifier, small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder
) -> None:
    assert OOS_LABEL in classifier.labels
    assert 0 < int(classifier.summary["background_examples"]) <= len(load_background())
    chatter = ["hello there", "set an alarm for seven tomorrow", "what is your name", "how do I say thanks in french"]
    assert all(prediction.out_of_scope for prediction in classifier.predict_many(chatter))
    texts, labels = small_set
    closed = IntentClassifier.train(texts, labels, embedder=embedder, config=replace(TINY, background=False))
    assert OOS_LABEL not in closed.labels
    assert closed.summary["background_examples"] == 0


def test_background_close_to_the_training_messages_is_dropped_with_its_domain() -> None:
    rng = np.random.default_rng(0)
    bank = np.zeros((40, 16), dtype=np.float32)
    bank[:, :8] = np.abs(rng.normal(size=(40, 8)))
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    own_scores = np.full(40, 0.6, dtype=np.float32)
    far = np.eye(16, dtype=np.float32)[8:14]  # orthogonal to every training message
    background = np.vstack([far[:3], bank[:1], far[3:]])  # the fourth is a copy of a training message
    groups = ["travel/a", "travel/b", "travel/c", "banking/x", "banking/y", "oos", "oos"]
    keep = far_from_training(background, groups, bank, own_scores, neighbours=1, quantile=0.1, domain_share=0.5)
    assert keep.tolist() == [True, True, True, False, False, True, True], "banking is the bot's own domain"
    keep = far_from_training(background, groups, bank, own_scores, neighbours=1, quantile=0.1, domain_share=0.6)
    assert keep.tolist() == [True, True, True, False, True, True, True], "only the close message goes"
    empty = np.zeros((0, 16), dtype=np.float32)
    assert far_from_training(empty, [], bank, own_scores, neighbours=1, quantile=0.1, domain_share=0.1).size == 0


def test_bundled_background_covers_many_domains() -> None:
    background = load_background()
    groups = {message.group for message in background}
    assert len(background) == 700
    assert "oos" in groups
    assert len({group.split("/")[0] for group in groups if group != "oos"}) == 10
    assert all(message.text.strip() == message.text and message.text for message in background)


def test_training_is_deterministic_and_restores_torch_threads(
    small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder
) -> None:
    texts, labels = small_set
    threads = torch.get_num_threads()
    first = IntentClassifier.train(texts[::2], labels[::2], embedder=embedder, config=TINY)
    second = IntentClassifier.train(texts[::2], labels[::2], embedder=embedder, config=TINY)
    assert torch.get_num_threads() == threads
    messages = ["can I pay in instalments", "my order is late"]
    assert first.predict_many(messages) == second.predict_many(messages)


def test_training_rejects_bad_data(embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(IntentDataError, match="2 texts but 1 labels"):
        IntentClassifier.train(["a", "b"], ["x"], embedder=embedder, config=TINY)
    with pytest.raises(IntentDataError, match="two in-scope intents"):
        IntentClassifier.train(["a", "b"], ["x", "oos"], embedder=embedder, config=TINY)
    with pytest.raises(ValueError, match="in_scope_acceptance"):
        IntentConfig(in_scope_acceptance=1.5)


def test_encoder_matches_the_knowledge_embedder(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["my card has not arrived yet", "hi", "can I change the delivery address of my order please?"]
    encoder = IntentEncoder(resolve_model_path(embedder.name), max_seq_length=128, tuned_layers=2)
    expected = embedder.embed_documents(texts)
    # untrained tuned layers are copies of the originals, so the hand-run layers agree with the model
    np.testing.assert_allclose(encoder.encode(texts), expected, atol=1e-5)
    states, pooled = encoder.lower_states(texts)
    np.testing.assert_allclose(encoder.pool_top(states).detach().numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(pooled, expected, atol=1e-5)


def test_csv_with_sentence_header_extra_column_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bot_train.csv"
    path.write_bytes(b'sentence,label,""\r\nHy,NO_NODES_DETECTED,\r\n"Do you offer EMI, please?",EMI,\r\n\r\n')
    data = load_labelled_csv(path)
    assert data.texts == ["Hy", "Do you offer EMI, please?"]
    assert data.labels == [OOS_LABEL, "EMI"]


def test_csv_with_a_missing_column_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("text,intent_name\nhello,GREETING\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv.*'label'"):
        load_labelled_csv(path)
    path.write_text("label\nGREETING\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv.*text column"):
        load_labelled_csv(path)


def test_csv_row_without_label_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("text,label\nhello,GREETING\nbye,\n", encoding="utf-8")
    with pytest.raises(IntentDataError, match=r"gaps\.csv line 3"):
        load_labelled_csv(path)
    with pytest.raises(IntentDataError, match=r"nothing\.csv"):
        load_labelled_csv(tmp_path / "nothing.csv")


def test_skill_map_from_the_banking77_file(shared_data: Path) -> None:
    skills = SkillMap.from_file(shared_data / "banking77" / "skills.json")
    assert skills.skill_for("card_arrival") == Skill(name="cards", priority=3)
    assert skills.skill_for("compromised_card") == Skill(name="fraud_and_security", priority=1)
    assert skills.skill_for("no_such_intent") is None
    assert skills.skill_for(OOS_LABEL) is None
    assert skills.always_escalate("terminate_account")
    assert not skills.always_escalate("card_arrival")
    assert len(skills.intents) == 77
    assert [s.name for s in skills.skills][:2] == ["cards", "card_payments"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"always_escalate": []}', "non-empty object 'skills'"),
        ('{"skills": {"cards": ["card_arrival"]}}', "skill 'cards' must be an object"),
        ('{"skills": {"cards": {"intents": ["a"], "priority": 0}}}', "priority 0"),
        ('{"skills": {"cards": {"intents": ["a"], "priority": "high"}}}', "priority 'high'"),
        ('{"skills": {"cards": {"intents": "a", "priority": 1}}}', "'intents' must be a list"),
        ('{"skills": {"a": {"intents": ["x"], "priority": 1}, "b": {"intents": ["x"], "priority": 2}}}', "two skills"),
        ('{"skills": {"a": {"intents": ["x"], "priority": 1}}, "always_escalate": "x"}', "'always_escalate'"),
    ],
)
def test_malformed_skill_maps_name_the_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "skills.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SkillMapError) as caught:
        SkillMap.from_file(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_missing_skill_map_file(tmp_path: Path) -> None:
    with pytest.raises(SkillMapError, match=r"absent\.json.*cannot read"):
        SkillMap.from_file(tmp_path / "absent.json")


def test_blends_of_two_intents_are_made_only_from_different_in_scope_intents() -> None:
    vectors = torch.eye(8)  # each vector its own axis, so a blend shows which two it came from
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])  # class 3 is out of scope
    generator = torch.Generator().manual_seed(0)
    seen = 0
    for _ in range(20):
        mixed = _mixed_outliers(vectors, targets, 3, generator)
        assert torch.allclose(mixed.norm(dim=1), torch.ones(len(mixed)))
        for row in mixed:
            sources = torch.nonzero(row).flatten()
            assert len(sources) == 2
            first, second = (int(targets[i]) for i in sources)
            assert first != second and 3 not in (first, second)
            share = float(row[sources].max() ** 2 / (row[sources] ** 2).sum())
            assert 0.5 <= share <= 0.7**2 / (0.7**2 + 0.3**2) + 1e-6
        seen += len(mixed)
    assert seen > 0
    assert len(_mixed_outliers(vectors[:2], targets[:2], 3, generator)) == 0, "one intent alone cannot blend"


def test_training_with_blends_places_blends_of_two_intents_out_of_scope(
    small_set: tuple[list[str], list[str]], embedder: SentenceTransformerEmbedder
) -> None:
    texts, labels = small_set
    firsts = texts[:: len(texts) // len(INTENTS)]  # one message of each intent
    config = replace(TINY, min_steps=60, mixup_weight=0.0)
    chances = []
    for model in (
        IntentClassifier.train(texts, labels, embedder=embedder, config=config),
        IntentClassifier.train(texts, labels, embedder=embedder, config=replace(config, mixup_weight=0.3)),
    ):
        vectors = model._encoder.encode(firsts)
        pairs = [(i, j) for i in range(len(firsts)) for j in range(i + 1, len(firsts))]
        blends = np.stack([vectors[i] + vectors[j] for i, j in pairs])
        blends /= np.linalg.norm(blends, axis=1, keepdims=True)
        probabilities = softmax(model.config.scale * blends @ model._head.T)
        chances.append(float(probabilities[:, model.labels.index(OOS_LABEL)].mean()))
        assert model.predict("I want to cancel the order I placed yesterday").intent == "CANCEL_ORDER"
    plain, blended = chances
    assert blended >= plain + 0.1, chances


def test_the_out_of_scope_class_must_win_by_the_margin_and_older_models_keep_a_plain_win(
    classifier: IntentClassifier, embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    probabilities = np.zeros(len(classifier.labels), dtype=np.float32)
    cancel, oos = classifier.labels.index("CANCEL_ORDER"), classifier.labels.index(OOS_LABEL)
    probabilities[[cancel, oos]] = 0.35, 0.6
    near = classifier.threshold + 0.1
    classifier.save(tmp_path / "model")
    meta_path = tmp_path / "model" / "intents.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    decisions = {}
    for margin in (1.0, 2.0):
        metadata["config"]["oos_margin"] = margin
        meta_path.write_text(json.dumps(metadata), encoding="utf-8")
        decisions[margin] = IntentClassifier.load(tmp_path / "model", embedder=embedder).decide(probabilities, near)
    assert decisions[1.0].out_of_scope
    assert decisions[2.0].intent == "CANCEL_ORDER", "0.6 is less than twice 0.35"
    del metadata["config"]["oos_margin"]
    meta_path.write_text(json.dumps(metadata), encoding="utf-8")
    assert IntentClassifier.load(tmp_path / "model", embedder=embedder).config.oos_margin == 1.0
