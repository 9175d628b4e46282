"""WOZ 2.0 dialogue state tracking, as decaNLP asks it: "What is the change in state?"

One hub row is one dialogue; :func:`turns` expands it into one row per turn
carrying the dialogue and turn index, the system's previous utterance, the
user's utterance and the turn's label (its change of state). The context
reads ``System: <utterance> User: <utterance>`` (only ``User: ...`` on a
dialogue's first turn). The answer is written as decaNLP writes it and as
:func:`tasks.metrics.parse_dialogue_state` reads it: informed slots as
``slot: value`` joined by ``", "``, then ``"; "``, then the requested slots
joined by ``", "``; ``None`` when the turn changes nothing:

>>> state_change([["food", "chinese"], ["area", "east"], ["request", "phone"]])
'food: chinese, area: east; phone'
>>> state_change([["price range", "cheap"]]), state_change([["request", "address"]]), state_change([])
('price range: cheap;', '; address', 'None')

An example's id is ``"<dialogue_idx>_<turn_idx>"``: the joint-goal metric
groups turns into dialogues by it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tasks.metrics import NO_CHANGE
from tasks.recipes import VERSION, clean, resolve_metrics
from tasks.registry import register
from tasks.types import Example, Row, Source, Task

QUESTION = "What is the change in state?"
REQUEST = "request"  # the turn_label "slot" of a requested slot: ["request", "phone"]


def turns(row: Row) -> list[Row]:
    """One row per turn of a dialogue row, in order.

    The hub's ``dialogue`` may arrive as a list of turn dicts or, through
    Arrow, as one dict of columns; both are read.
    """
    dialogue: Any = row["dialogue"]
    if isinstance(dialogue, Mapping):
        dialogue = [dict(zip(dialogue, values)) for values in zip(*dialogue.values())]
    return [
        {
            "dialogue_idx": row["dialogue_idx"],
            "turn_idx": turn["turn_idx"],
            "system_transcript": turn["system_transcript"],
            "transcript": turn["transcript"],
            "turn_label": turn["turn_label"],
        }
        for turn in dialogue
    ]


def state_change(turn_label: Sequence[Sequence[str]]) -> str:
    """decaNLP's answer for a turn's ``[slot, value]`` pairs (``["request", slot]`` asks for a slot)."""
    informed = [f"{slot}: {value}" for slot, value in turn_label if slot != REQUEST]
    requested = [value for slot, value in turn_label if slot == REQUEST]
    if not informed and not requested:
        return NO_CHANGE
    return f"{', '.join(informed)}; {', '.join(requested)}".strip()


def recast(row: Row) -> Example:
    """One turn (a row of :func:`turns`) to a text example."""
    system, user = clean(row["system_transcript"]), clean(row["transcript"])
    context = f"System: {system} User: {user}" if system else f"User: {user}"
    return Example(f"{row['dialogue_idx']}_{row['turn_idx']}", QUESTION, context, state_change(row["turn_label"]))


WOZ = register(
    Task(
        name="woz",
        version=VERSION,
        family="dialogue",
        format="text",
        source=Source("PolyAI/woz_dialogue", "en"),
        recast=recast,
        metrics=resolve_metrics(("joint_goal", "turn_inform", "turn_request")),
        expand=turns,
        splits=("train", "validation", "test"),
        description="WOZ 2.0 restaurant dialogues: the change in dialogue state at each user turn.",
        notes=(
            "One row is a dialogue; it expands into one example per turn. joint_goal folds the "
            "predicted and gold inform slots over a dialogue's turns, so evaluate whole dialogues."
        ),
        sample_rows=(
            {
                "dialogue_idx": 0,
                "dialogue": [
                    {
                        "turn_label": [["food", "thai"]],
                        "asr": [["I want Thai food."]],
                        "system_transcript": "",
                        "turn_idx": 0,
                        "belief_state": [{"slots": [["food", "thai"]], "act": "inform"}],
                        "transcript": "I want Thai food.",
                        "system_acts": [],
                    },
                    {
                        "turn_label": [["area", "north"], ["request", "phone"]],
                        "asr": [["In the north please, and the phone number?"]],
                        "system_transcript": "What part of town do you have in mind?",
                        "turn_idx": 1,
                        "belief_state": [
                            {"slots": [["food", "thai"]], "act": "inform"},
                            {"slots": [["area", "north"]], "act": "inform"},
                            {"slots": [["slot", "phone"]], "act": "request"},
                        ],
                        "transcript": "In the north please, and the phone number?",
                        "system_acts": [["area"]],
                    },
                    {
                        "turn_label": [],
                        "asr": [["Thank you, goodbye."]],
                        "system_transcript": "Siam Garden is in the north, 01223 555 555.",
                        "turn_idx": 2,
                        "belief_state": [
                            {"slots": [["food", "thai"]], "act": "inform"},
                            {"slots": [["area", "north"]], "act": "inform"},
                        ],
                        "transcript": "Thank you, goodbye.",
                        "system_acts": [],
                    },
                ],
            },
            {
                "dialogue_idx": 1,
                "dialogue": [
                    {
                        "turn_label": [["request", "address"]],
                        "asr": [["Where is Pizza Hut?"]],
                        "system_transcript": "",
                        "turn_idx": 0,
                        "belief_state": [{"slots": [["slot", "address"]], "act": "request"}],
                        "transcript": "Where is Pizza Hut?",
                        "system_acts": [],
                    },
                ],
            },
        ),
    )
)
