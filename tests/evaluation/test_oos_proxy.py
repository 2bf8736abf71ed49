"""The HINT3 stand-in split: held-out intents never reach training, and the parts do not overlap."""

from __future__ import annotations

from pathlib import Path

from agent.intents import load_labelled_csv
from agent.intents.background import load_background
from evaluation.oos_proxy import COVERED, GENERAL_MESSAGES, OTHER_BOT_MESSAGES, split_bot


def test_the_split_keeps_held_out_intents_and_test_messages_out_of_training(shared_data: Path) -> None:
    split = split_bot(shared_data / "hint3", "sofmattress", seed=0)
    train_intents = {label for _, label in split.train}
    assert split.in_scope and split.out_of_scope["unseen_intents"]
    assert {label for _, label in split.in_scope} <= train_intents
    assert len(split.out_of_scope["other_bots"]) == 2 * OTHER_BOT_MESSAGES
    again = split_bot(shared_data / "hint3", "sofmattress", seed=0)
    assert again == split, "the same seed gives the same split"
    assert split_bot(shared_data / "hint3", "sofmattress", seed=1) != split


def test_other_bots_messages_leave_out_the_intents_this_bot_answers_too(shared_data: Path) -> None:
    split = split_bot(shared_data / "hint3", "curekart", seed=0)
    covered_texts = set()
    for other in ("sofmattress", "powerplay11"):
        theirs = load_labelled_csv(shared_data / "hint3" / f"{other}_train.csv")
        covered_texts |= {
            text
            for text, label in zip(theirs.texts, theirs.labels, strict=True)
            if f"{other}/{label}" in COVERED["curekart"]
        }
    assert "Need to cancel my order" in covered_texts, "SOFMattress's cancellations are Curekart's intent too"
    assert not covered_texts & set(split.out_of_scope["other_bots"])


def test_general_out_of_scope_kinds_come_from_clinc150_validation_and_dstc11(shared_data: Path) -> None:
    split = split_bot(shared_data / "hint3", "sofmattress", seed=0)
    general, chat = split.out_of_scope["general_requests"], split.out_of_scope["hotel_and_restaurant_chat"]
    assert len(general) == len(chat) == GENERAL_MESSAGES
    clinc = load_labelled_csv(shared_data / "clinc150" / "val.csv")
    assert set(general) <= {t for t, label in zip(clinc.texts, clinc.labels, strict=True) if label == "oos"}
    background = {message.text for message in load_background()}
    assert not background & set(general), "validation requests are not in the training background"
