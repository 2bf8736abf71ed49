"""The HINT3 stand-in split: held-out intents never reach training, and the parts do not overlap."""

from __future__ import annotations

from pathlib import Path

from evaluation.oos_proxy import OTHER_BOT_MESSAGES, split_bot


def test_the_split_keeps_held_out_intents_and_test_messages_out_of_training(shared_data: Path) -> None:
    split = split_bot(shared_data / "hint3", "sofmattress", seed=0)
    train_intents = {label for _, label in split.train}
    assert split.in_scope and split.out_of_scope["unseen_intents"]
    assert {label for _, label in split.in_scope} <= train_intents
    assert len(split.out_of_scope["other_bots"]) == 2 * OTHER_BOT_MESSAGES
    again = split_bot(shared_data / "hint3", "sofmattress", seed=0)
    assert again == split, "the same seed gives the same split"
    assert split_bot(shared_data / "hint3", "sofmattress", seed=1) != split
