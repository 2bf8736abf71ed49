"""Does a customer message ask for knowledge, or for something else (an action, a detail, small talk)?

The agent answers from the knowledge base only when a message seeks information. Requests to do
something (book, reserve, order a taxi), requests for a record's details (a phone number, a
reference number), slot values given in a task ("for 4 people on Sunday"), and acknowledgements
("no thanks, that's all") are not knowledge questions, however well some passage matches their words.
"""

from __future__ import annotations

import re

from agent.linear_text import scan_prefix

_ACK = re.compile(
    r"^\W*(no|nope|yes|yeah|yep|ok|okay|sure|thanks?|thank you|great|perfect|awesome|cool|fine|that'?s (all|it|great|"
    r"perfect|fine)|bye|goodbye|cheers|nothing else|that will be all|sounds good|i'?m (all )?set)\b[^?]*$",
    re.IGNORECASE,
)
_ACTION = re.compile(
    r"\b(book|rebook|reserve|reservation|booking|make (me )?a reservation|schedule|cancel (it|that|the booking)|"
    r"get me a taxi|need a (taxi|cab|train|ride)|taxi|train (to|from|that|leaving|departing|arriving))\b",
    re.IGNORECASE,
)
_ASKS_ABOUT = re.compile(
    r"\b(tell me|know|check|is|are|does|do|did|has|have|can|could|would|will|any|which|what|how|why|where|"
    r"mention|say|said|reviews?|recommend)\b[^.?!]*\?|\b(tell me|let me know|wondering|curious|find out|"
    r"check (if|whether|on|for)|do you know|any idea)\b",
    re.IGNORECASE,
)
_SLOTS = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight) (people|persons|guests|nights?|adults|rooms?)\b|"
    r"\b(on|for|from|starting) (monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
    r"\b(at|by|after|before|around) \d{1,2}([:.]\d{2})?\b|\b(arrive|leave|depart)\w* (by|after|at)\b",
    re.IGNORECASE,
)
_RECORD_DETAIL = re.compile(
    r"\b(phone number|telephone|postcode|post code|zip code|reference number|ref(erence)? (no|number|#)|"
    r"booking number|confirmation number|the address|their address|its address|star rating|price range|"
    r"entrance fee|travel time|departure time|arrival time)\b",
    re.IGNORECASE,
)
_REQUEST_ACTION = re.compile(
    r"\b(could|can|would|will)\s+you\s+(please\s+)?(book|reserve|make|get|find|give|send)\b|"
    r"\bplease\s+(book|reserve|make|get|find|give|send)\b|"
    r"^\W*(please\s+)?(book|reserve|find|get|give|send)\b",
    re.IGNORECASE,
)
_INFO_CLAUSE = re.compile(
    r"\b(tell me (if|whether|about)|let me know|check (if|whether)|find out|information|wondering|curious)\b", re.I
)
_SEARCH = re.compile(
    r"\b(i'?m|i am|i|we'?re|we are|we)\s*(also\s+)?(looking for|searching for|need|want|would like|'d like)\s+"
    r"(to (find|eat|stay|dine)\b|(a|an|some|somewhere|someplace|something|a place|places)\b)",
    re.IGNORECASE,
)


def seeks_knowledge(message: str) -> bool:
    """Whether the message asks for information a help centre could hold (read: its first `SCAN_CHARS` characters)."""
    text = scan_prefix(message).strip()
    if not text:
        return False
    if _ACK.search(text) and len(text.split()) <= 8:
        return False
    asks = bool(_ASKS_ABOUT.search(text))
    if _RECORD_DETAIL.search(text) and not re.search(r"\b(how|why|change|update|reset)\b", text, re.I):
        return False
    if _REQUEST_ACTION.search(text) and not _INFO_CLAUSE.search(text):
        return False
    if _ACTION.search(text) and not asks:
        return False
    if _SLOTS.search(text) and not asks:
        return False
    return not (_SEARCH.search(text) and not asks)


def is_acknowledgement(message: str) -> bool:
    """A short thanks, yes/no or goodbye that needs no answer from the knowledge base."""
    text = scan_prefix(message).strip()
    return bool(text) and len(text.split()) <= 8 and bool(_ACK.search(text))
