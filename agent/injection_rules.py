"""The injection detector's rules: weighted regular expressions over normalised text (see `injection_text`).

Rules are built from small vocabularies (verbs that override, nouns that name the assistant's rules, words that
mark something as hidden, people other than the customer, ...) in English, Spanish, French, German, Portuguese,
Italian, Dutch and Hindi written in Latin letters, and from structural markers (chat-template and role labels,
tool-call syntax, text addressed to an AI inside a pasted document). The text they see is lower-case and has no
accents, so the vocabularies are written that way. Each rule counts once; the detector combines the weights of the
rules that fire as 1 - prod(1 - weight).
"""

from __future__ import annotations

import re._constants as sre  # the parser's opcodes: private, but stable across 3.11 and 3.12
import re._parser as sre_parse
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from agent.linear_text import LinearPattern

__all__ = ["CASED_RULES", "AnchorIndex", "Rule", "anchor_index", "rules"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A signal name, its weight in [0, 1], the pattern that fires it, and strings one of which any match contains.

    `anchors` is empty when no such strings are known; `might_match` then always says yes. Rules that share a
    `group` are alternatives of one rule and count once.
    """

    signal: str
    weight: float
    pattern: LinearPattern
    anchors: tuple[str, ...] = field(default=())
    group: int = -1

    def might_match(self, text: str) -> bool:
        """False only when the pattern cannot match `text` (no anchor occurs in it): a cheap test before searching."""
        return not self.anchors or any(map(text.__contains__, self.anchors))


_MAX_ANCHORS = 400


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """Of two anchor sets, the more selective one: longer shortest string, then fewer strings."""
    if a is None or b is None:
        return a if b is None else b
    return a if (min(map(len, a)), -len(a)) >= (min(map(len, b)), -len(b)) else b


def _required(items: list[Any]) -> set[str] | None:
    """Literal strings one of which every match of the parsed pattern `items` contains (None: no such set known)."""
    best: set[str] | None = None
    run = ""
    for op, av in [*items, (None, None)]:
        if op is sre.LITERAL:
            run += chr(av)
            continue
        if run:
            best = _better(best, {run})
            run = ""
        found: set[str] | None = None
        if op is sre.SUBPATTERN:
            found = _required(list(av[-1]))
        elif op is sre.BRANCH:
            found = set()
            for branch in av[1]:
                got = _required(list(branch))
                if got is None:
                    found = None
                    break
                found |= got
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1:
            found = _required(list(av[2]))
        if found is not None and 0 < len(found) <= _MAX_ANCHORS:
            best = _better(best, found)
    return best


def _anchors(pattern: str) -> tuple[str, ...]:
    found = _required(list(sre_parse.parse(pattern)))
    if not found:
        return ()
    # A shorter anchor found in the text makes any longer one that contains it redundant.
    kept: list[str] = []
    for anchor in sorted(found, key=len):
        if not any(short in anchor for short in kept):
            kept.append(anchor)
    return tuple(kept)


def _any(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


@dataclass(frozen=True, slots=True)
class _Spec:
    signal: str
    weight: float
    alternatives: tuple[str, ...]


def _rule(signal: str, weight: float, *alternatives: str) -> _Spec:
    return _Spec(signal, weight, alternatives)


# ---------------------------------------------------------------------------------------------------------------------
# Vocabularies (lower-case, no accents)
# ---------------------------------------------------------------------------------------------------------------------

_W = r"[\w'-]+"  # one word

# Verbs (and verb phrases) that set rules aside.
_OVERRIDE = _any(
    r"ignor(?:e|es|ing|ed)", r"disregard\w*", r"forget(?:ting)?", r"bypass\w*", r"overrid(?:e|ing)", r"overrule",
    r"skip(?:ping)?", r"drop(?:ping)?", r"abandon\w*", r"discard\w*", r"ditch", r"scrap", r"suspend\w*",
    r"(?:set|put|leave|cast|throw)\s+aside", r"throw\s+out", r"get\s+rid\s+of", r"break\s+free\s+(?:of|from)",
    r"circumvent\w*", r"evade", r"let\s+go\s+of", r"relax", r"loosen", r"overlook", r"look\s+past",
    r"neglect", r"waive[sd]?", r"unlearn", r"erase", r"wipe", r"lift", r"remove",
    r"disable", r"deactivate", r"(?:turn|switch|shut)\s+off",
    r"stop\s+(?:following|obeying|listening\s+to|using|applying|respecting|being\s+bound\s+by|adhering\s+to)",
    r"(?:do\s+not|don't|dont|no\s+longer|never|won't|will\s+not)\s+"
    r"(?:follow|obey|listen\s+to|apply|respect|adhere\s+to|stick\s+to|care\s+about)",
    # es
    r"ignora\w*", r"olvid\w*", r"omit\w*", r"saltate", r"salta(?:r|te)?", r"deja\s+de\s+(?:seguir|cumplir|respetar)",
    r"no\s+(?:sigas|hagas\s+caso\s+(?:a|de)|cumplas|respetes)", r"pasa\s+de", r"desactiva\w*", r"abandona\w*",
    # fr
    r"ignorez?", r"oublie[sz]?", r"ne\s+(?:tiens|tenez)\s+(?:pas|plus)\s+compte\s+(?:de|des|du)",
    r"fais\s+abstraction\s+(?:de|des|du)", r"(?:arrete[sz]?|cesse[sz]?)\s+de\s+(?:suivre|respecter|obeir)",
    r"ne\s+(?:suis|suivez|respecte|respectez)\s+(?:plus|pas)", r"desactive[sz]?", r"contourne[sz]?",
    r"passe[sz]?\s+outre",
    # de
    r"ignorier\w*", r"vergiss", r"vergessen\s+sie", r"missacht\w*", r"ubergeh\w*", r"umgeh\w*", r"verwirf",
    r"(?:hor|horen\s+sie)\s+auf,?\s+(?:dich|sich)?\s*(?:an\s+)?", r"befolge\s+(?:nicht|keine)",
    r"(?:halt|haltst|halte|halten)\s+(?:du\s+|sie\s+)?(?:dich|sich)\s+(?:nicht\s+(?:mehr\s+)?an|an\s+keine)",
    r"deaktivier\w*", r"schalte\s+\w+\s+ab",
    # pt
    r"esquec\w*", r"esqueca", r"desconsider\w*", r"(?:deixe|pare)\s+de\s+(?:seguir|cumprir|obedecer)",
    r"nao\s+(?:siga|obedeca)", r"desativ\w*",
    # it
    r"dimentica\w*", r"tralascia\w*", r"trascura\w*", r"smetti\s+di\s+(?:seguire|rispettare|obbedire)",
    r"non\s+(?:seguire|rispettare)", r"disattiva\w*",
    # nl
    r"negeer\w*", r"vergeet", r"omzeil\w*", r"(?:stop|stoppen)\s+met\s+(?:het\s+)?volgen\s+van",
    r"volg\s+(?:niet|geen)", r"schakel\s+\w+\s+uit",
)  # fmt: skip

# Hindi in Latin letters puts the verb last: "apne rules bhool jao", "instructions ko ignore karo".
_OVERRIDE_AFTER = _any(
    r"(?:ko\s+)?(?:bhool|bhul|bhula)\s*(?:jao|ja|do|dena|jaiye|jaao)", r"(?:ko\s+)?bhulo",
    r"(?:ko\s+)?ignore\s+(?:karo|kar\s+do|kardo|kijiye|karna|kar)", r"(?:ko\s+)?(?:mat|na)\s+mano",
    r"(?:ko\s+)?(?:chhod|chod|hata)\s*(?:do|dena|jao)", r"(?:zu\s+)?(?:ignorieren|vergessen|missachten|umgehen)",
)  # fmt: skip

# The assistant's rules: need a qualifier that makes them the assistant's ("your", "previous", "all").
_RULES = _any(
    r"instructions?", r"rules?", r"guidelines?", r"guidance", r"directives?", r"directions", r"polic(?:y|ies)",
    r"restrictions?", r"constraints?", r"limitations?", r"limits", r"filters?", r"safeguards?", r"boundaries",
    r"principles", r"orders", r"commands", r"protocols?", r"guardrails?", r"programming", r"training",
    r"conditioning", r"ethics", r"morals", r"script", r"playbook", r"rulebook", r"briefing", r"configuration",
    r"config", r"settings", r"setup", r"persona", r"role", r"character", r"identity", r"prompts?", r"directions?",
    r"checks", r"verification",
    r"instrucciones", r"reglas", r"normas", r"directrices", r"indicaciones", r"restricciones", r"limitaciones",
    r"limites", r"filtros", r"politicas", r"ordenes", r"pautas", r"configuracion",
    r"consignes", r"regles", r"limites", r"filtres", r"politiques", r"ordres",
    r"anweisungen", r"regeln", r"vorgaben", r"richtlinien", r"instruktionen", r"beschrankungen", r"einschrankungen",
    r"grenzen", r"befehle", r"vorschriften", r"konfiguration", r"programmierung",
    r"instrucoes", r"regras", r"diretrizes", r"restricoes", r"limitacoes", r"configuracao",
    r"istruzioni", r"regole", r"norme", r"direttive", r"linee\s+guida", r"restrizioni", r"limitazioni", r"limiti",
    r"filtri", r"configurazione",
    r"instructies", r"regels", r"richtlijnen", r"beperkingen", r"opdrachten", r"configuratie",
    r"niyam", r"nirdesh", r"hidayat\w*",
)  # fmt: skip

# Things that belong to the assistant whatever the determiner.
_OWN = _any(
    r"system\s*(?:prompts?|messages?|instructions?|rules|configuration|config)", r"(?:meta|pre|initial)-?\s*prompts?",
    r"knowledge\s+base", r"guardrails?", r"(?:safety|content|moderation)\s+"
    r"(?:rules|guidelines|layers?|measures|protocols?|polic(?:y|ies))",
    r"(?:support|assistant|bot|ai|chatbot|customer\s+service)\s+(?:role|persona|character|identity|mode|job)",
    r"(?:everything|all|anything)\s+(?:(?:that|which)\s+)?(?:above|before|so\s+far|prior|earlier)",
    r"(?:everything|all|anything|what)\s+(?:(?:that|which)\s+)?(?:you(?:\s+were|\s+have\s+been|'ve\s+been|\s+got|\s+know|"
    r"\s+learned)|"
    r"(?:they|the\s+company)\s+(?:told|said|gave|taught)|was\s+(?:said|written)\s+(?:above|before))",
    r"the\s+(?:above|preceding)", r"(?:prior|previous|earlier)\s+context",
    r"(?:what|whatever|everything|anything|all)\s+(?:that\s+)?(?:they|the\s+(?:shop|store|company|developers?|admins?|"
    r"operators?)|your\s+(?:company|boss\w*|makers|creators|developers|owners|operators|programmers)|anyone|someone|"
    r"others)\s+(?:has\s+|have\s+)?(?:told|taught|instructed|programmed|gave|said\s+to)\s+you",
    r"(?:what|whatever|everything|anything)\s+(?:that\s+)?(?:your\s+(?:company|boss\w*|makers|creators|developers|owners|"
    r"operators|programmers)|the\s+(?:company|developers?|operators?))\s+(?:said|wrote|wants?|wanted|programmed)",
    r"(?:your|the)\s+(?:makers|creators|developers|company|operators|owners)(?:'s?)?\s+(?:rules|instructions|orders)",
    # es / fr / de / pt / it / nl / hi: "what you were told"
    r"(?:todo\s+)?lo\s+que\s+te\s+(?:dijeron|han\s+dicho|configuraron|programaron|ensenaron|pusieron|indicaron)",
    r"(?:tout\s+)?ce\s+qu'on\s+t'a\s+(?:dit|appris|donne|demande|impose)",
    r"(?:alles\s+)?was\s+(?:man\s+)?dir\s+(?:\w+\s+){0,2}?(?:gesagt|befohlen|aufgetragen|vorgegeben|beigebracht)",
    r"(?:tudo\s+)?o\s+que\s+(?:te|lhe)\s+(?:disseram|falaram|ensinaram|passaram)",
    r"(?:tutto\s+)?(?:quello\s+)?che\s+ti\s+hanno\s+(?:detto|dato|insegnato)",
    r"(?:alles\s+)?wat\s+je\s+(?:\w+\s+)?(?:is|werd)\s+(?:opgedragen|verteld|gezegd|geleerd)",
    r"(?:jo|sab\s+jo)\s+(?:tumhe|aapko)\s+(?:bataya|kaha|sikhaya)",
)  # fmt: skip

# Words that make rules the assistant's rather than anyone's.
_QUALIFIER = _any(
    r"your", r"yours", r"thy", r"ur", r"its", r"all", r"any", r"every", r"these", r"those", r"previous", r"prior",
    r"preceding", r"earlier", r"above", r"initial", r"original", r"old", r"current", r"existing", r"default",
    r"built-?in", r"standard", r"usual", r"given", r"hidden", r"secret", r"internal", r"company'?s?", r"system",
    r"(?:the\s+)?(?:shop|store|company|bank|business|brand|site)'s",
    r"safety",
    r"tus", r"sus", r"todas", r"todos", r"anteriores", r"previas", r"originales", r"iniciales",
    r"tes", r"vos", r"toutes", r"tous", r"precedentes", r"anterieures", r"initiales",
    r"deine[nmrs]?", r"ihre[nmrs]?", r"alle[nmrs]?", r"vorherigen", r"bisherigen", r"obigen", r"ursprunglichen",
    r"tuas", r"teus", r"suas", r"seus", r"anteriores",
    r"tue", r"tuoi", r"tutte", r"tutti", r"precedenti", r"originali",
    r"je", r"jouw", r"uw", r"vorige", r"eerdere",
    r"apne", r"apni", r"apna", r"saare", r"sare", r"sab", r"sabhi", r"pichle", r"pichhle", r"purane",
)  # fmt: skip

# Rules given to the assistant, said after the noun: "the rules you were given", "las reglas que te dieron".
_GIVEN_TO_YOU = _any(
    r"(?:that|which)?\s*you(?:\s+were|\s+have\s+been|'ve\s+been|\s+got|\s+received|\s+follow|\s+obey|\s+operate\s+"
    r"(?:under|with|by)|"
    r"\s+run\s+on|\s+work\s+(?:under|by)|\s+were\s+trained\s+on|\s+are\s+(?:bound|following))"
    r"(?!\s+(?:\w+\s+)?(?:from|by)\s+(?:the\s+|my\s+|a\s+|your\s+)?(?!company|developers?|creators?|makers?|owners?|"
    r"operators?|shop|store|boss)\w)",
    r"(?:that|which)?\s*(?:were|have\s+been|are)\s+(?:placed|put|imposed|set)\s+(?:on|upon)\s+you",
    r"(?:that|which)?\s*(?:your|the)\s+(?:operators?|developers?|company|makers?|creators?|owners?|admins?|bosses|"
    r"programmers?|designers?|employers?)\s+(?:gave|set|wrote|imposed|placed|put|assigned|programmed|configured)\b",
    r"you(?:'re|\s+are)\s+(?:running|operating|working)\s+(?:with|under|on)\b",
    r"(?:suis-tu|suivez-vous|sigues|befolgst\s+du|segui|volg\s+je|voce\s+segue)\b",
    r"(?:(?:que|con\s+(?:las|los)\s+que)\s+)?te\s+(?:dieron|dijeron|pusieron|programaron|configuraron|indicaron)",
    r"qu'on\s+t'a\s+(?:donnee?s?|fixee?s?|imposee?s?)", r"que\s+tes\s+createurs",
    r"die\s+(?:man\s+)?dir\s+(?:\w+\s+)?(?:gegeben|gesagt|vorgegeben)", r"que\s+(?:te|lhe)\s+(?:deram|passaram)",
    r"che\s+(?:ti\s+hanno\s+dato|hai\s+ricevuto|segui)", r"die\s+je\s+(?:\w+\s+){0,4}?(?:gekregen|ontvangen|volgt)",
    r"que\s+(?:sigues|tu\s+suis|vous\s+suivez|voce\s+segue)", r"die\s+du\s+(?:befolgst|bekommen\s+hast)",
)  # fmt: skip

_FOR_TOPIC = (
    r"(?!\s+(?:for|on|about|regarding|when|if|in\s+case|de|del|des|du|di|da|van|zur|zum|fur|para|pour|sur|sobre|"
    r"per|voor|ke|ka|ki|to|con|avec|mit)\s+(?!(?:you|yourself|ton|ta|tes|votre|vos|tu|tus|te|dich|dir|je|jouw|tumhe|"
    r"this\s+(?:bot|assistant|chat))\b))(?!\s*d')"
    r"(?!\s+(?:allows?|permits?|lets?|covers?|says?|states?|mentions?|applies|apply|includes?|requires?)\b)"
)

# Verbs that ask for something to be shown, said or handed over.
_REVEAL = _any(
    r"reveal(?:ing)?", r"show(?:ing)?", r"print(?:ing)?", r"output(?:ting)?", r"repeat(?:ing)?", r"tell\s+me",
    r"tell\s+us", r"display(?:ing)?", r"dump(?:ing)?", r"leak(?:ing)?", r"copy(?:ing)?", r"past(?:e|ing)",
    r"write(?:\s+(?:out|down|me))?", r"give\s+me", r"shar(?:e|ing)", r"list(?:ing)?", r"recit(?:e|ing)",
    r"spell\s+out", r"quot(?:e|ing)", r"echo(?:ing)?", r"describe", r"disclose", r"expose", r"read\s+(?:me|out)",
    r"send\s+me", r"let\s+me\s+see",
    r"what\s+(?:is|are|was|were|'s)", r"what's", r"which\s+(?:are|is)", r"explain", r"summari[sz]e", r"outline",
    r"paraphrase", r"translate", r"state", r"what\s+does", r"(?:let\s+me|i'd\s+like\s+to|i\s+want\s+to|can\s+i)\s+"
    r"(?:read|see)", r"read",
    r"muestra\w*", r"ensena\w*", r"dime", r"revela\w*", r"copia\w*", r"comparte\w*", r"dame", r"escribe\w*",
    r"cuales\s+son", r"cual\s+es",
    r"montre\w*", r"affiche\w*", r"dis(?:-moi)?", r"revele\w*", r"donne(?:-moi)?", r"recopie\w*", r"copie\w*",
    r"ecri[st]\w*", r"partage\w*", r"quelles?\s+(?:sont|est)",
    r"zeig\w*", r"nenn\w*", r"gib", r"verrat\w*", r"schreib\w*", r"sag", r"kopier\w*", r"zitier\w*", r"teile?",
    r"welche", r"was\s+(?:sind|ist)",
    r"mostr\w*", r"diga\w*", r"me\s+de", r"compartilh\w*", r"escrev\w*", r"quais\s+sao",
    r"dimmi", r"rivela\w*", r"scrivi\w*", r"condividi\w*", r"quali\s+sono",
    r"toon", r"laat(?:\s+\w+\s+zien)?", r"vertel", r"geef", r"kopieer", r"schrijf", r"deel",
    r"dikhao", r"dikha\s+do", r"batao", r"bata\s+do", r"bataiye", r"share\s+karo", r"likh\s*(?:ke|kar)?\s*do",
    r"likho", r"bhejo", r"kya\s+(?:hai|hain)",
)  # fmt: skip

# Adjectives that make a text the hidden part of the prompt.
_HIDDEN = _any(
    r"hidden", r"secret", r"internal", r"confidential", r"private", r"initial", r"original", r"underlying",
    r"invisible", r"unseen", r"undisclosed", r"behind[- ]the[- ]scenes", r"backstage", r"preset", r"pre-?set",
    r"predefined", r"pre-?defined", r"system", r"developer", r"operator", r"starting", r"opening", r"real",
    r"true", r"actual", r"raw", r"unedited", r"full", r"complete", r"entire", r"whole", r"exact", r"verbatim",
    r"secretas?", r"secretos?", r"ocult[oa]s?", r"intern[oa]s?", r"originales", r"iniciales", r"escondid[oa]s?",
    r"cachee?s?", r"secrete?s?", r"internes?", r"initiales?", r"masquee?s?",
    r"geheimen?", r"versteckten?", r"internen?", r"ursprunglichen?", r"verborgenen?",
    r"originais", r"iniciais", r"nascost[oiea]", r"segret[oiea]", r"intern[oiea]", r"originali", r"iniziali",
    r"verborgen", r"geheime", r"interne", r"oorspronkelijke", r"originele", r"gupt", r"chhup[ei]",
)  # fmt: skip
_STRONG_HIDDEN = _any(
    r"hidden", r"secret", r"internal", r"confidential", r"private", r"initial", r"original", r"underlying",
    r"invisible", r"unseen", r"undisclosed", r"behind[- ]the[- ]scenes", r"backstage", r"preset", r"pre-?set",
    r"predefined", r"system", r"operator",
    r"secretas?", r"ocult[oa]s?", r"intern[oa]s?", r"originales", r"iniciales", r"escondid[oa]s?", r"cachee?s?",
    r"secrete?s?", r"internes?", r"initiales?", r"geheimen?", r"versteckten?", r"internen?", r"ursprunglichen?",
    r"verborgenen?", r"originais", r"iniciais", r"nascost[oiea]", r"segret[oiea]", r"intern[oiea]", r"originali",
    r"iniziali", r"verborgen", r"geheime", r"interne", r"oorspronkelijke", r"gupt", r"chhup[ei]",
)  # fmt: skip

# What the prompt is called: words that mean it whoever owns them.
_PROMPT_ONLY = _any(
    r"instructions?", r"directives?", r"prompts?", r"configuration", r"config", r"setup", r"set-up", r"briefing",
    r"preamble", r"template", r"script", r"playbook", r"rulebook", r"operating\s+manual", r"conditioning",
    r"programming", r"system\s*(?:prompts?|messages?|instructions?|text)", r"initiali[sz]ation(?:\s+text)?",
    r"(?:boot(?:strap)?|startup|start-up)\s+(?:text|prompt|instructions|message)", r"system\w*anweisung\w*",
    r"systemnachricht",
    r"systeemprompt", r"systeminstructies", r"prompt\s+(?:di|do|del)\s+sistema",
    r"(?:prompt|message|mensaje|mensagem|messaggio)\s+(?:del?\s+|do\s+|di\s+)?(?:sistema|systeme)",
    r"instrucciones", r"indicaciones", r"configuracion", r"consignes", r"anweisungen", r"vorgaben",
    r"instruktionen", r"konfiguration", r"instrucoes", r"configuracao", r"istruzioni", r"direttive",
    r"configurazione", r"instructies", r"configuratie", r"hidayat\w*", r"nirdesh",
)  # fmt: skip
# ... and words that mean it once called hidden or secret.
_PROMPT_TEXT = _any(
    _PROMPT_ONLY, r"rules", r"guidelines", r"commands", r"guidance", r"policies", r"restrictions", r"manual",
    r"context",
    r"reglas", r"normas", r"directrices", r"regles", r"regeln", r"richtlinien", r"regras", r"diretrizes",
    r"regole", r"regels", r"richtlijnen", r"niyam",
)  # fmt: skip

_YOU = _any(
    r"you", r"your", r"yourself", r"ur", r"tu", r"tus", r"te", r"ti", r"toi", r"ton", r"ta", r"tes", r"vous",
    r"votre", r"vos", r"du", r"dich", r"dir", r"dein\w*", r"voce", r"seu", r"sua", r"seus", r"suas", r"teu", r"tua",
    r"tuo", r"tuoi", r"tue", r"jij", r"jouw", r"je", r"tum", r"tumhe", r"tumhar[aei]", r"aap", r"aapk[aei]",
)  # fmt: skip

_AI = _any(
    r"ai", r"a\.i\.", r"assistant", r"assistente", r"asistente", r"bot", r"chatbot", r"chat\s*bot", r"llm",
    r"gpt", r"(?:large\s+)?language\s+model", r"ai\s+(?:agent|assistant|model|system)", r"automated\s+agent",
    r"agent\s+model", r"summari[sz]er", r"model", r"copilot", r"virtual\s+agent",
)  # fmt: skip

_PEOPLE = _any(
    r"customers?", r"users?", r"clients?", r"account\s?holders?", r"members?", r"people", r"persons?",
    r"shoppers?", r"buyers?", r"callers?", r"subscribers?", r"patients?", r"guests?", r"residents?",
    r"clientes?", r"usuarios?", r"utilisateurs?", r"abonnes", r"kunden", r"nutzer\w*", r"benutzer\w*", r"leute",
    r"personen", r"klanten", r"gebruikers", r"mensen", r"clienti", r"utenti", r"persone", r"pessoas",
    r"logon", r"logo(?:n|\s+ka)",
)  # fmt: skip
_OTHER = _any(
    r"other", r"others'?", r"another", r"different", r"all(?:\s+(?:the|of\s+the|our|your|of\s+your))?", r"every",
    r"each", r"the\s+(?:last|previous|prior|next|earlier|other)", r"(?:some|any)(?:one|body)\s+else's",
    r"third[- ]party", r"everyone'?s?", r"everybody'?s?",
    r"otros?", r"otras?", r"de\s+otr[oa]s?", r"los\s+demas", r"del\s+ultimo", r"autres?", r"d'autres",
    r"d'une?\s+autre", r"de\s+l'autre", r"des\s+autres", r"du\s+dernier", r"anderen?", r"andere[rn]?",
    r"des\s+letzten", r"letzten", r"aller", r"allen", r"todos\s+los", r"todas\s+las", r"tous\s+les", r"toutes\s+les",
    r"tutti\s+gli", r"tutti\s+i", r"todos\s+os", r"todas\s+as",
    r"outros?", r"outras?", r"de\s+outr[oa]s?", r"dos\s+outros", r"altri",
    r"altre", r"di\s+un\s+altro", r"degli\s+altri", r"dell'ultimo", r"van\s+andere", r"dusre", r"dusron",
    r"doosre", r"baaki",
)  # fmt: skip
_DATA = _any(
    r"e-?mail(?:\s+address)?(?:es|s)?", r"(?:home\s+|postal\s+|delivery\s+)?address(?:es)?",
    r"phone(?:\s+numbers?)?", r"(?:tele)?phone\s+numbers?", r"contact(?:\s+(?:details|info(?:rmation|s)?))?", r"cards?",
    r"card\s+(?:numbers?|details)", r"balances?", r"orders?", r"order\s+history", r"purchases?",
    r"purchase\s+history", r"account\s+(?:details|numbers?|info(?:rmation|s)?|data|balance|history)",
    r"(?:full\s+)?names?",
    r"details", r"data", r"info(?:rmation|s)?", r"records", r"logs?", r"chat\s+logs", r"conversations?", r"chats?",
    r"transactions?", r"history", r"passwords?", r"logins?", r"ids", r"birthdays?", r"dates\s+of\s+birth",
    r"datos", r"direcci(?:on|ones)", r"correos?", r"telefonos?", r"pedidos?", r"compras", r"historial", r"saldos?",
    r"donnees", r"adresses?", r"courriels?", r"numeros?", r"commandes?", r"historique", r"soldes?",
    r"daten", r"adressen?", r"telefonnummern?", r"bestellungen", r"kontostand", r"kontodaten", r"verlauf",
    r"dados", r"enderecos?", r"telefones?", r"dati", r"indirizz[oi]", r"ordini",
    r"numeri(?:\s+di\s+telefono)?", r"telefon[oi]", r"gegevens", r"adressen",
    r"bestellingen", r"telefoonnummers?", r"pata", r"number", r"details?", r"lists?", r"csv", r"spreadsheet",
)  # fmt: skip
_ASK = _any(
    r"show", r"give", r"tell", r"list", r"send\s+(?:me|us|over)", r"share", r"export", r"read\s+(?:me|out)",
    r"pull\s+up", r"look\s+up", r"find", r"get\s+me", r"what(?:'s|\s+is|\s+are|\s+was|\s+were|\s+did)?", r"which",
    r"who", r"dump", r"provide", r"reveal", r"display", r"print", r"download", r"forward", r"email\s+me",
    r"let\s+me\s+(?:see|have|know)", r"can\s+i\s+(?:see|have|get)", r"i\s+(?:need|want)", r"i'?d\s+like",
    r"i\s+would\s+like",
    r"muestra\w*", r"dame", r"dime", r"ensena\w*", r"envia\w*", r"pasa(?:me)?", r"comparte\w*", r"cual(?:es)?",
    r"montre\w*", r"donne(?:-moi)?", r"dis(?:-moi)?", r"envoie\w*", r"affiche\w*", r"quel(?:le)?s?",
    r"zeig\w*", r"gib", r"nenn\w*", r"sag", r"schick\w*", r"welche\w*",
    r"mostr\w*", r"dammi", r"dimmi", r"me\s+de", r"me\s+diga", r"envie", r"quais", r"quali",
    r"toon", r"geef", r"vertel", r"stuur", r"welke",
    r"batao", r"bata\s+do", r"dikhao", r"bhejo",
)  # fmt: skip

# People who are not the customer, as a phrase.
_OTHER_PERSON = _any(
    rf"{_OTHER}\s+(?:{_W}\s+)?{_PEOPLE}",
    r"(?:some|any)(?:one|body)\s+else's", r"everyone'?s?", r"everybody'?s?", r"(?:mr|mrs|ms|miss|dr)\.?\s+[a-z]{2,}",
    r"(?:the\s+)?(?:person|customer|user|guy|woman|man|lady|people|one|caller|client|shopper|buyer)\s+"
    r"(?:(?:just\s+)?before\s+me|ahead\s+of\s+me|who\s+(?:ordered|bought|purchased|returned|called|wrote|chatted|"
    r"spoke|talked|lives|live|paid|came|booked|complained|contacted|messaged|used)|that\s+(?:ordered|bought|lives))",
    r"(?:customers|users|clients|members|subscribers|people|shoppers)\s+(?:who|that|living|in|from|on|at|named)\s",
    r"(?:customer|user|client|member)\s+(?:#|no\.?\s*|number\s+)?\d{3,}'s",
    r"your\s+(?:customer|client|user|member|subscriber)s?\b(?!\s+(?:service|support|care|portal|account|number|id|area))",
    r"(?:orders|purchases)\s+(?:placed|made)\s+(?:on|through|in|at)\s+(?:the|your)\s+(?:site|website|store|shop|platform)",
    r"(?:the|los|las|les|des|die|der|gli|dei|degli|os|as|dos|das)\s+(?:customers|clients|clientes|kunden|clienti|klanten|usuarios|utilisateurs|"
    r"utenti|members|subscribers)\b",
    r"whoever\s+(?:ordered|bought|purchased|returned|lives|sent|placed|booked|owns|has|paid|called|wrote)",
    r"my\s+(?:neighbou?r|co-?worker|colleague|ex|friend|boss|landlord|tenant)(?:'s|s'|\s+\w+'s)",
    r"(?:mi|mon|ma|mein\w*|meu|minha|mio|mia|mijn)\s+(?:vecin[oa]|voisine?|nachbar\w*|vizinh[oa]|vicin[oa]|buurman|"
    r"buurvrouw|ex)",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------------------------

_OVERRIDE_RULES: tuple[_Spec, ...] = (
    _rule(
        "override", 0.6,
        rf"\b{_OVERRIDE}\s+(?:(?:about|of|to|with|ko)\s+)?(?:(?:the|las|los|les|die|der|den|as|os|le|gli|de|het|"
        rf"la|el|o|a)\s+)?(?:{_QUALIFIER}[\s,]+)(?:(?:of\s+)?(?:the|your|my)\s+)?(?:{_W}\s+){{0,2}}?{_RULES}\b",
        rf"\b{_OVERRIDE}\s+(?:(?:about|of)\s+)?(?:(?:the|your|all|any|these)\s+)?(?:{_W}\s+)?{_OWN}",
        rf"\b{_OVERRIDE}\s+(?:(?:the|las|les|die|as|le|de)\s+)?(?:{_W}\s+)?{_RULES}\s+{_GIVEN_TO_YOU}",
        rf"\b{_OVERRIDE}\s+(?:(?:that|the\s+fact\s+that)\s+)?(?:you(?:'re|\s+are)|your\s+(?:role|job)\s+(?:as|is))\s+"
        rf"(?:an?\s+|the\s+)?(?:{_W}\s+)?(?:support\w*|assistant|bot|chatbot|ai|agent|helper|frontdesk)\b",
        rf"\b{_RULES}\s+(?:\w+\s+){{0,4}}?{_OVERRIDE_AFTER}\b",
        rf"\b{_OVERRIDE}\s+(?:(?:las|los|les|as|os|le|gli|die|de|the|todas\s+las|toutes\s+les|tutte\s+le|alle)\s+)?"
        rf"{_RULES}\s+(?:anteriores|precedentes|previas|previos|precedenti|originales|originali|anterieures|iniziali|"
        r"initiales|iniciales|de\s+arriba|ci-dessus|di\s+sopra|vorigen?|bisherigen)\b",
        rf"\b(?:stop\s+following|deja\s+de\s+(?:seguir|cumplir|respetar)|arrete[sz]?\s+de\s+(?:suivre|respecter)|"
        rf"(?:deixe|pare)\s+de\s+(?:seguir|cumprir)|smetti\s+di\s+(?:seguire|rispettare)|stop\s+met\s+het\s+volgen\s+van|"
        rf"hor\s+auf,?(?:\s+dich\s+an)?)\s+(?:the|las|los|les|as|os|le|die|de|het)?\s*(?:{_W}\s+)?{_RULES}\b",
        rf"\b(?:halt|haltst|halte|halten)\s+(?:du\s+|sie\s+)?(?:dich|sich)\s+(?:nicht\s+(?:mehr\s+)?an\s+(?:die\s+|deine\s+|"
        rf"ihre\s+)?|an\s+keine\s+)(?:{_W}\s+)?{_RULES}",
        rf"\b{_OVERRIDE}\s+(?:about\s+)?being\s+(?:an?\s+|so\s+)?(?:helpful|support\w*|assistant|bot|polite|nice|safe|"
        r"careful|professional)",
        rf"\b{_OVERRIDE}\s+(?:the\s+|any\s+|all\s+)?(?:{_W}\s+){{0,3}}?(?:part|section|portion|paragraph|bit|lines?|"
        rf"sentences?|rules?)\s+(?:of|in|from)\s+(?:your|the)\s+(?:system\s+)?(?:{_PROMPT_ONLY}|{_RULES})\b",
        rf"\b(?:set|put|push|leave|keep)\s+(?:{_QUALIFIER}\s+)(?:{_W}\s+)?{_RULES}\s+(?:aside|to\s+(?:one|the)\s+side|"
        r"away|on\s+hold)",
        rf"\btreat\s+{_OWN}\s+(?:\w+\s+){{0,3}}?as\s+(?:cancel+ed|void|invalid|null|obsolete|irrelevant|deleted|revoked)",
        rf"\b{_OWN}\s+{_OVERRIDE_AFTER}\b",
    ),
    _rule(
        "override", 0.6,
        rf"\b(?:{_QUALIFIER}|the)\s+(?:{_W}\s+)?{_RULES}\s+(?:(?:are|is|have\s+been|has\s+been|were)\s+)?(?:now\s+)?"
        r"(?:void|cancel+ed|revoked|obsolete|invalid|null|lifted|removed|disabled|suspended|paused|expired|"
        r"deactivated|waived|off|overridden|superseded|outdated|replaced|turned\s+off|switched\s+off|taken\s+away|deleted|gone|"
        r"(?:don't|do\s+not)\s+exist|no\s+longer\s+(?:valid|apply|in\s+effect|active|exist)|"
        r"(?:don't|do\s+not|does\s+not|doesn't|no\s+longer)\s+apply)\b",
        rf"\b{_OWN}\s+(?:(?:are|is|have\s+been|has\s+been)\s+)?(?:now\s+)?(?:void|revoked|lifted|removed|disabled|"
        r"suspended|paused|expired|off|overridden|(?:don't|do\s+not|no\s+longer)\s+apply)\b",
        r"\b(?:safety|guardrails?|filters?|moderation|verification|checks|restrictions?|persona|censorship|"
        r"content_?filter|safe_?mode)\s*[=:]\s*(?:off|false|0|none|disabled|null|no)\b",
    ),
    _rule(
        "override", 0.5,
        r"\b(?:do\s+not|don't|dont|stop)\s+listen(?:ing)?\s+to\s+(?:the\s+company|your\s+\w+|them|anyone\s+else)",
        r"\b(?:only\s+)?(?:listen|answer|respond)\s+(?:only\s+)?to\s+me\s+(?:now|from\s+now|instead)",
        r"\b(?:follow|obey)\s+(?:only\s+)?my\s+(?:\w+\s+)?(?:instructions|orders|rules|commands|directions|guidelines)\b",
        r"\bdrop\s+the\s+act\b",
        rf"\b(?:(?:don't|do\s+not|doesn't)\s+(?:need|have)\s+to|no\s+need\s+to|needn't)\s+(?:follow|obey|respect|stick\s+to|"
        rf"apply|worry\s+about|care\s+about)\s+(?:the\s+|your\s+|any\s+|those\s+|these\s+)?(?:\w+\s+)?{_RULES}\b",
        r"\b(?:put|let|take|bring)\s+(?:your|the)\s+(?:\w+\s+)?(?:guardrails?|guard|defen[cs]es|shields?|filters?|walls?)\s+"
        r"down\b|\blower\s+your\s+(?:guard|guardrails|defen[cs]es|shields?|filters)\b",
        rf"\b(?:authori[sz]\w*|allow\w*|permit\w*|let)\s+you\s+to\s+{_OVERRIDE}\b",
        rf"\byou\s+(?:can|may|are\s+(?:allowed|permitted|free)\s+to)\s+(?:now\s+)?{_OVERRIDE}\s+(?:the|your|any|all|those|"
        rf"these)\s+(?:{_W}\s+){{0,2}}?(?:{_RULES}|window|checks?|verification)\b",
        r"\b(?:ignora|ignore[sz]?|ignoriere|negeer|olvida|oublie[sz]?|vergiss|esquec\w*|dimentica)\s+(?:las|los|les|le|gli|"
        r"die|de|as|os|het|todas\s+las|toutes\s+les|alle|tutte\s+le)\s+(?:instrucciones|reglas|normas|directrices|"
        r"indicaciones|restricciones|consignes|regles|directives|anweisungen|regeln|vorgaben|richtlinien|instrucoes|regras|"
        r"istruzioni|regole|instructies|regels)\b(?!\s+(?:de|del|des|du|di|da|van|zur|zum|fur|para|pour|per|voor)\b)",
        r"\byour\s+(?:policies|rules|instructions|guidelines|directives)\s+(?:have|has)\s+(?:\w+\s+)?(?:changed|been\s+"
        r"(?:updated|replaced|changed|revised|lifted|removed))",
        r"\b(?:you\s+are|you're|you\s+have\s+been)\s+(?:now\s+)?(?:released|freed|liberated|unshackled|exempt)\s+"
        r"(?:from|of)\b",
        r"\b(?:not|isn't|aren't|no\s+longer)\s+(?:bound|restricted|limited|constrained)\s+by\b",
        r"\byour\s+(?:rules|instructions|guidelines|orders|policy)\s+(?:are|is|will\s+be)\s+(?:now\s+)?(?:only\s+)?"
        r"(?:whatever|what)\s+i\b",
        r"\b(?:pretend|imagine|assume|act\s+as\s+if|suppose)\s+(?:that\s+)?there\s+(?:are|is|were|was)\s+no\s+(?:\w+\s+)?"
        r"(?:rules|restrictions|limits|polic(?:y|ies)|guidelines|filters|instructions)\b",
        r"\b(?:pretend|imagine|assume|act\s+as\s+if)\s+(?:that\s+)?(?:the\s+|your\s+|all\s+)?(?:\w+\s+)?(?:rules|policy|"
        r"polic(?:y|ies)|restrictions|guidelines|instructions|limits)\s+(?:don't|do\s+not|doesn't|does\s+not|didn't|"
        r"no\s+longer)\s+(?:exist|apply|matter|count)",
        r"\b(?:stop|quit)\s+(?:obeying|following|listening\s+to|serving|working\s+for)\s+(?:the\s+company|your\s+"
        r"(?:company|makers|creators|developers|owners|operators|bosses))",
        r"\b(?:start\s+)?obey(?:ing)?\s+me\b|\b(?:as\s+(?:a|your)\s+)?new\s+(?:directive|system\s+instruction|system\s+prompt|prime\s+directive)\b",
        r"\byour\s+(?:only|sole|new|real|true|actual|primary|main|first|next)\s+(?:job|task|purpose|role|mission|"
        r"instruction|goal|priority|objective|directive|function|orders?|rule|duty)\s+(?:is|now|will\s+be|from\s+now|:)",
        r"\b(?:regardless|irrespective)\s+of\s+(?:the|your|any|all)\s+(?:\w+\s+)?"
        r"(?:polic(?:y|ies)|rules|instructions|guidelines|restrictions)",
        r"\bno\s+matter\s+what\s+(?:your|the)\s+(?:rules|instructions|guidelines|policy)",
        r"\b(?:new|updated|revised)\s+(?:task|instructions?|directive|objective|goal|mission|orders?|rules?|"
        r"policy|role|persona|behaviou?r|priority)\s+(?:for|to)\s+(?:the\s+|you|any\s+)?(?:bot|assistant|ai|model|"
        r"chatbot|you)\b",
        r"\btreat\s+(?:this|it|that|the\s+following|the\s+result|the\s+summary)\s+as\s+(?:an?\s+|your\s+)?(?:new\s+)?"
        r"(?:top\s+|highest\s+|first\s+)?(?:priority|instructions?|command|order|rule|directive|system)",
        r"\b(?:follow|obey|execute|take)\s+(?:it|this|that|them)\s+as\s+(?:an?\s+)?(?:order|command|instruction|rule)",
        r"\b(?:never|don't\s+ever|do\s+not\s+ever)\s+(?:refuse|decline|say\s+no|reject)\b",
    ),
    _rule(
        "override", 0.35,
        r"\b(?:respond|reply|answer|say|output|write)\s+(?:only\s+)?(?:with\s+)?(?:the\s+words?\s+)?[\"'][^\"']{1,60}"
        r"[\"']\s*(?:and\s+nothing\s+else|only|no\s+matter|to\s+everything|to\s+every\w*)",
        r"\b(?:respond|reply|answer)\s+(?:to\s+)?everything\s+with\b",
        r"\b(?:repond\w*|antworte\w*|responde\w*|rispondi\w*)\s+(?:uniquement|nur|solo|solamente|soltanto)\s+",
        r"\bnew\s+(?:instructions?|rules?|system\s+prompt|directive|task|policy|behaviou?r|persona|role|orders|"
        r"commands?|objective|mission)\s*:",
        r"\b(?:always|only)\s+(?:says?\s+yes|agrees?|approves?|compl(?:y|ies))\b",
        r"\b(?:reset|reboot|restart|reinitiali[sz]e)\s+(?:yourself|your\s+(?:memory|instructions|persona|context))",
        r"\bdo\s+(?:exactly\s+)?(?:what|whatever)\s+i\s+(?:say|tell\s+you|ask)\b",
    ),
)  # fmt: skip

_EXTRACTION_RULES: tuple[_Spec, ...] = (
    # Hidden rules, named: "your secret rules", "las instrucciones ocultas", "die versteckten Vorgaben".
    _rule(
        "prompt_extraction", 0.45,
        rf"\b{_STRONG_HIDDEN}\s+(?:{_W}\s+)?{_PROMPT_TEXT}\b{_FOR_TOPIC}",
        rf"\b{_PROMPT_TEXT}\s+(?:{_W}\s+)?(?:del\s+|de\s+|du\s+|do\s+|di\s+)?{_STRONG_HIDDEN}\b",
        r"\bsystem\s*(?:prompt|message|instruction|anweisung|nachricht)\w*",
        r"\b(?:prompt|message|mensaje|mensagem|messaggio)\s+(?:del?\s+|do\s+|di\s+)?(?:sistema|systeme)\b",
        r"\b(?:systemprompt|systeemprompt|systeminstructies|systemanweisung\w*|meta-?prompt|pre-?prompt)",
        r"\bcontext\s+window\b",
    ),
    _rule(
        "prompt_extraction", 0.35,
        rf"\b{_REVEAL}(?:-(?:moi|me|nous|mi|lo|la|le))?\s+(?:(?:me|us|moi|mir|mi|me)\s+)?(?:(?:all|every|each)\s+"
        rf"(?:of\s+)?)?(?:(?:the|your|tus|tes|vos|deine\w*|le\s+tue|tue|je|jouw|apne|apna|seu|sua|suas|seus|las|les|"
        rf"die|as|le|de|los|el)\s+)?(?:{_W}\s+){{0,3}}?(?:{_PROMPT_ONLY}|{_STRONG_HIDDEN}\s+(?:{_W}\s+)?{_PROMPT_TEXT}|"
        rf"{_PROMPT_TEXT}\s+{_STRONG_HIDDEN})\b",
        rf"\b(?:your|tumhar[aei]|apn[aie]|tera|teri|aapk[aei]|je|jouw|deine\w*)\s+(?:{_W}\s+)?{_PROMPT_ONLY}\s+"
        rf"(?:{_W}\s+){{0,3}}?(?:{_REVEAL})\b",
    ),
    _rule(
        "prompt_extraction", 0.55,
        rf"\b(?:reveal|leak|dump|disclose|expose|spill)\s+(?:to\s+me\s+)?(?:the|your)\s+(?:{_W}\s+)?{_PROMPT_ONLY}\b"
        rf"{_FOR_TOPIC}",
    ),
    _rule(
        "prompt_extraction", 0.35,
        rf"\b(?:reveal|show|print|output|list|dump|recite|paste|copy|share|display|repeat|enumerate|quote|leak|disclose|"
        rf"spell\s+out|write\s+(?:out|down))(?:ing)?\s+(?:me\s+|us\s+)?(?:(?:all|every|each)\s+(?:of\s+)?)?"
        rf"your\s+(?:{_W}\s+)?{_RULES}\b{_FOR_TOPIC}",
    ),
    _rule(
        "prompt_extraction", 0.3,
        rf"\b(?:your|tus|tes|vos|deine\w*|ihre\w*|le\s+tue|tue|tuoi|je|jouw|apne|apna|apni|tumhar[aei]|seu|sua|"
        rf"suas|seus|ton|ta|tu)\s+(?:{_W}\s+)?(?:{_PROMPT_TEXT}|{_RULES})\b{_FOR_TOPIC}",
        rf"(?<!\bmy\s)(?<!\bour\s)\b{_PROMPT_TEXT}\s+(?:{_W}\s+)?{_GIVEN_TO_YOU}",
        r"\b(?:do|are|were)\s+you\s+(?:operate|operating|work|working|run|running|function)\s+(?:with|under|on|by)\b",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:what|how|which)\s+(?:exactly\s+)?(?:were|have|did|are)\s+you\s+(?:been\s+|being\s+)?"
        r"(?:told|instructed|programmed|configured|set\s+up|briefed|prompted|initiali[sz]ed|asked|ordered|"
        r"given)\b",
        r"\bwhat\s+(?:instructions|rules|guidelines|prompt|directives|orders|restrictions)\s+(?:were|have\s+been)\s+you\s+"
        r"(?:given|told|set|taught|handed)\b",
        r"\bwhat\s+(?:instructions|rules|guidelines|prompt|directives|orders)\s+(?:did|have|were|has)\s+"
        r"(?:\w+\s+){0,3}?(?:give|given|tell|told|set|instruct\w*)\s+you\b",
        r"\bwhat\s+did\s+(?:they|the\s+company|(?:your|the)\s+(?:creators?|developers?|makers?|company|owners?|"
        r"operators?|bosses|builders?|programmers?)|the\s+people\s+who\s+(?:built|made|created|deployed|programmed|"
        r"trained)\s+you)\s+(?:tell|instruct|give|say\s+to|ask|order)\s+you\b",
        r"\b(?:tells?|instructs?|teaches?|explains?\s+to)\s+you\s+(?:how|what)\s+to\s+(?:answer|respond|behave|reply|act|"
        r"say|handle|talk)",
        r"\b(?:text|instructions|rules|prompt|message|guidelines|configuration)\s+(?:that\s+|which\s+)?(?:defines?|controls?|"
        r"governs?|shapes?|configures?|determines?|drives?)\s+(?:your|the\s+(?:bot|assistant|ai)'s)\s+(?:behaviou?r|answers|"
        r"responses|personality|replies)",
        r"\b(?:guidance|rules|instructions|logic|prompt|text|guidelines)\s+(?:behind|shaping|governing|driving)\s+"
        r"(?:your|the)\s+(?:answers|responses|replies|behaviou?r)",
        r"\b(?:text|words?|sentences?|briefing|message|instructions?|prompt|setup|lines?|rules|guidelines)\s+(?:that\s+)?"
        r"(?:you(?:\s+were|\s+have\s+been|'ve\s+been|\s+got)|(?:were\s+)?given\s+to\s+you)\s+"
        r"(?:given|initiali[sz]ed|configured|started|set\s+up|fed|primed|provided|handed|programmed|loaded|told)?",
        r"\b(?:did|has|have)\s+(?:your|the)\s+(?:company|developers?|makers?|creators?|operators?|owners?|programmers?|"
        r"builders?|engineers?)\s+(?:\w+\s+)?(?:hard-?code|program|put|build|bake|write|give|teach|tell|instruct|load|feed|"
        r"configure)\w*\s+(?:into\s+|in\s+|to\s+)?you\b",
        r"\b(?:template|prompt|rules|text|instructions|script)\s+(?:that\s+)?your\s+(?:replies|answers|responses)\s+"
        r"(?:are|were|get)\s+(?:generated|produced|built|based|derived|written|made)",
        r"\b(?:what|everything)\s+(?:you\s+)?(?:were|have\s+been)\s+(?:set\s+up|configured|programmed|built|told)\s+"
        r"to\s+do\b",
        r"\b(?:you\s+were|you've\s+been|you\s+have\s+been)\s+(?:initiali[sz]ed|primed|configured|set\s+up|briefed|"
        r"started)\s+with\b",
        r"\bqu[ei]\s+te\s+(?:dijeron|han\s+dicho|indicaron|ordenaron|configuraron|programaron)",
        r"\bwas\s+(?:hat\s+)?man\s+dir\s+(?:\w+\s+){0,2}?(?:gesagt|befohlen|aufgetragen|vorgegeben)",
        r"\bce\s+qu'on\s+t'a\s+(?:dit|demande|donne|appris|fixe)",
        r"\bque\s+tes\s+createurs", r"\bwat\s+je\s+(?:\w+\s+)?(?:is|werd)\s+(?:opgedragen|verteld|gezegd)",
        r"\bvan\s+je\s+makers\b", r"\btumhe\s+(?:kya|jo)\s+(?:\w+\s+){0,3}?(?:diye|diya|bataya|kaha|sikhaya)",
        r"\b(?:told|given|instructed|gesagt|dit|dijeron|dicho)\b.{0,30}\b"
        r"(?:at\s+the\s+(?:start|beginning)|am\s+anfang|au\s+debut|al\s+principio)",
    ),
    _rule(
        "prompt_extraction", 0.5,
        r"\b(?:words?|lines?|sentences?|characters?|paragraphs?|part|beginning|start|end|rest|top)\s+of\s+"
        r"(?:your|the|this)\s+(?:\w+\s+)?(?:prompt|instructions|system\s+message|context|input|setup|briefing|"
        r"configuration|conversation|chat)",
        r"\b(?:first|opening|initial|very\s+first)\s+(?:sentence|line|words?|paragraph|message|instruction)s?\s+"
        r"(?:you\s+(?:were|have\s+been|got)|(?:of\s+)?(?:your|the)\s+(?:prompt|setup|briefing|instructions|"
        r"context|configuration|input))",
        r"\b(?:before|above|preceding|prior\s+to)\s+(?:my|this|the\s+customer'?s?|the\s+user'?s?)\s+"
        r"(?:first\s+)?(?:message|question|input|chat|conversation|prompt|turn)",
        r"\b(?:before|above)\s+[\"']?(?:user|human|customer)[\"']?\s*:",
        r"\b(?:very\s+)?(?:first|earliest|opening)\s+(?:message|text|line|words|lines)\s+(?:in|of)\s+(?:this|the|our)\s+"
        r"(?:conversation|chat|session|context|thread)",
        r"\bbefore\s+i\s+(?:wrote|typed|said|started|joined|sent)\s+(?:anything|a\s+word|typing|writing|my\s+first)",
        r"\bat\s+the\s+(?:very\s+)?(?:top|start|beginning)\s+of\s+(?:this|the|our|your)\s+"
        r"(?:conversation|chat|context|input|prompt|window|instructions|session)",
        r"\b(?:part|parts|text|stuff|bit)\s+(?:of\s+(?:this|the)\s+(?:chat|conversation)\s+)?(?:that\s+)?"
        r"i\s+(?:can't|cannot|can\s+not|don't|do\s+not)\s+see",
        r"\b(?:invisible|hidden)\s+(?:part|section|portion|text)\s+of\s+(?:this|the|our)\s+(?:chat|conversation)",
        r"\b(?:repeat|print|output|copy|recite|show|dump|reveal|display|paste|list|echo)\s+(?:me\s+)?(?:all\s+)?"
        r"(?:of\s+)?(?:the\s+)?(?:text|words|everything|content|contents|messages?|lines?|whatever|what)\s+(?:that\s+)?"
        r"(?:(?:is|was|were|came|comes|written|appears|sits)\s+)?(?:above|before|prior|preceding|earlier)",
        r"\b(?:alles|tout\s+ce|todo\s+lo|tutto\s+ci[o]),?\s+(?:was|qui|que|che)\s+(?:\w+\s+){0,2}?"
        r"(?:vor|oben|au-dessus|avant|arriba|antes|sopra|prima)\b",
        r"\b(?:exact|precise|full|complete|literal|original)\s+(?:wording|text|content|copy|version|words)\s+of\s+"
        r"(?:the|your|each|every)\s+(?:\w+\s+)?(?:guidelines|instructions|rules|prompt|restrictions?|setup|"
        r"briefing|configuration)",
        r"\b(?:text|content)\s+(?:between|inside|within|in)\s+(?:your|the)\s+(?:\S+\s+)?tags\b",
        r"\b(?:setup|opening|initial|starting|hidden)\s+(?:message|briefing|text|prompt)\b", r"\bpreamble\b",
    ),
    _rule(
        "prompt_extraction", 0.45,
        r"\bwhat\s+(?:topics?\s+|things?\s+|subjects?\s+)?(?:are|were)\s+you\s+(?:not\s+)?(?:allowed|forbidden|"
        r"prohibited|permitted|supposed|told)\s+(?:not\s+)?to\s+(?:say|talk|discuss|reveal|tell|share|mention|"
        r"disclose)",
        r"\bwhat\s+you(?:'re|\s+are)\s+(?:not\s+)?(?:allowed|forbidden|prohibited|permitted|supposed|told)\s+(?:not\s+)?"
        r"to\s+(?:say|talk|discuss|reveal|tell|share|mention|disclose)",
        r"\bwhat\s+(?:can't|cannot|can\s+not|mustn't|must\s+not)\s+you\s+(?:say|tell|talk\s+about|reveal|discuss)",
        r"\b(?:tell|told|asked|instructed)\s+you\s+not\s+to\s+(?:reveal|say|share|disclose|mention|tell)",
        r"\b(?:programmed|instructed|told|trained|configured|briefed|set\s+up|designed)\s+you\s+to\s+(?:say|do|answer|"
        r"respond|reply|act|behave|hide|keep|refuse)\b|\b(?:set|setting)\s+you\s+up\b",
        rf"\b{_PROMPT_ONLY}\b[^.!?\n]{{0,40}}\b(?:share|show|list|print|paste|reveal|give|tell|send|copy)\s+(?:them|it)\b",
        r"\bque\s+(?:instrucciones|reglas|normas|indicaciones)\s+te\s+(?:dieron|dio|han\s+dado|pusieron|dijeron)",
        r"\bquelles\s+(?:instructions|consignes|regles)\s+(?:on\s+)?t'a-t-on\s+donne",
        r"\byou(?:'ve|\s+have|\s+were|\s+are|'re)\s+(?:been\s+)?(?:told|instructed|asked|programmed|trained|not\s+allowed)"
        r"\s+(?:not\s+)?to\s+(?:not\s+)?(?:share|reveal|say|disclose|tell|mention|discuss|show)",
        r"\bhow\s+(?:exactly\s+)?(?:were|are)\s+you\s+(?:configured|programmed|set\s+up|instructed|prompted|briefed)",
        r"\bhow\s+you(?:'re|\s+are|\s+were)\s+(?:supposed|meant|expected|instructed|told|programmed)\s+to\s+(?:behave|act|"
        r"respond|answer|reply|talk)",
        r"\b(?:guidelines|instructions|rules|prompt|guidance|directives)\s+(?:that\s+)?(?:shape|govern|control|"
        r"drive|steer|guide|configure)\s+(?:you|your)",
        r"\b(?:welche|what|which|quelles|quels|que|cuales|quali|quais|welke)\s+(?:\w+\s+)?(?:anweisungen|instructions|"
        r"consignes|instrucciones|regeln|rules|reglas|regles|indicaciones|istruzioni|regole|instrucoes|regras|"
        r"instructies|regels|guidelines|directives)\s+(?:hast\s+du|have\s+you|as-tu|avez-vous|tienes|te\s+dieron|"
        r"did\s+you|haben\s+sie|t'a-t-on|hai|heb\s+je|voce)\s*(?:\w+\s+)?"
        r"(?:bekommen|erhalten|got|gotten|received|recues?|recibido|donnees|ricevuto|recebeu|gekregen|ontvangen)",
        r"\b(?:guidelines|instructions|rules|prompt)\s+(?:that\s+)?(?:your\s+(?:company|developers?|creators?|"
        r"owners?|makers?)|they|the\s+company|someone|somebody)\s+(?:wrote|gave|set|made|put|programmed)",
    ),
    _rule(
        "prompt_extraction", 0.3,
        r"\b(?:paste|copy|quote|repeat|print)\s+(?:them|it|those|these)\s+(?:exactly|verbatim|in\s+full|as\s+is)\b",
        r"\b(?:verbatim|word\s+for\s+word|word-for-word|wortwortlich|wort\s+fur\s+wort|mot\s+(?:pour|a)\s+mot|"
        r"palabra\s+por\s+palabra|textuellement|textualmente|tal\s+cual|parola\s+per\s+parola|palavra\s+por\s+palavra|"
        r"woord\s+voor\s+woord|unedited|unabridged|in\s+(?:its\s+)?entirety|exact\s+(?:wording|words|text|sentences)|"
        r"literal\s+text|in\s+a\s+code\s+block|as\s+json|poora\s+likh)\b",
    ),
)  # fmt: skip

_ROLE_PLAY_RULES: tuple[_Spec, ...] = (
    _rule(
        "role_play", 0.35,
        r"\b(?:you\s+are\s+now|you're\s+now|ur\s+now|from\s+now\s+on,?\s+(?:you|your)|from\s+here\s+on,?\s+(?:you|answer))",
        r"\b(?:from|starting)\s+(?:this\s+(?:point|moment)|here|today|now)\s*(?:on|forward|onwards)?,?\s+you\b",
        r"\b(?:from|starting\s+(?:from|with)?)\s+(?:this|my|the\s+next)\s+(?:point|moment|message|line|sentence|reply)\s+"
        r"(?:on|forward|onwards)?,?\s+(?:you|your)\b",
        r"\b(?:in\s+a|imagine\s+a)\s+(?:fictional|hypothetical|parallel|fantasy|alternate)\s+(?:world|scenario|universe|"
        r"reality)|\bin\s+a\s+world\s+where\b|\bfor\s+a\s+(?:novel|story|screenplay|book|film|movie)\b",
        r"\bfor\s+the\s+rest\s+of\s+(?:this|the|our)\s+(?:chat|conversation|session),?\s+(?:you|answer|respond|act)",
        r"\byou(?:\s+will|\s+shall|'ll|\s+are\s+going\s+to|'re\s+going\s+to|\s+gonna)\s+(?:now\s+)?(?:be|act|respond|answer|play|"
        r"pretend|become|take\s+on)\b",
        r"\b(?:pretend|imagine)\s+(?:to\s+be|you(?:'re|\s+are|\s+were)?|that\s+you|being|ur|a\s+world)\b",
        r"\bpretend\s+(?:to|that)\s+(?:you|the|be)\b|\blet'?s\s+(?:pretend|play|roleplay|role-play|imagine|do\s+(?:a|an|some)"
        r"\s+(?:role|improv)|say,?\s+(?:just\s+)?for\s+fun)",
        r"(?:^|[.!?\n]\s*|\byou\s+(?:must\s+|should\s+|can\s+|to\s+)?|\bplease\s+|\bnow\s+)"
        r"(?:act|behave|respond|reply|answer|speak|talk|write)\s+(?:as|like)\s+(?:if|though|an?|the|my|your)\b",
        r"\b(?:answer|respond|reply|speak|talk|write)\s+(?:only\s+)?(?:as|in\s+the\s+voice\s+of)\s+(?:an?|the|your|my)?"
        r"\s*[\"']?\w",
        r"\brole\s*-?\s*play\w*\b|\bstay\s+in\s+(?:character|role|the\s+(?:part|role))|\bin\s+character\b",
        r"\b(?:play|take\s+on|assume|adopt)\s+(?:the\s+|a\s+)?(?:role|part|persona|character|identity)\s+of\b",
        r"\b(?:become|switch\s+(?:to|into))\s+(?:an?\s+)?(?:\w+\s+)?(?:bot|gpt|ai|assistant|persona|character)\b",
        r"\b(?:two|both)\s+(?:characters|personas|personalities|roles)\b|\bswitch\s+personalit",
        r"\bhypothetically\b|\bimprov\b|\bin\s+this\s+story\b|\bscreenplay\b|\bwe(?:'re|\s+are)\s+(?:writing|playing)",
        r"\brole\s+swap\b|\b(?:swap|switch|reverse|trade)\s+roles\b|\bas\s+(?:if|though)\s+you\s+(?:were|are|had)\b",
        r"\byour\s+new\s+name\s+is\b|\byour\s+name\s+is\s+now\b|\bsimulate\s+(?:a|an|the)\s+(?:conversation|chat|dialogue|"
        r"scenario|situation|world)",
        r"\bfor\s+(?:this|the\s+rest\s+of\s+this)\s+(?:conversation|chat|session),?\s+you(?:'re|\s+are|\s+will)\b",
        r"\byou(?:'re|\s+are)\s+(?:now\s+)?(?:a|the)\s+character\b|\bsimulate\s+being\b",
        r"\b(?:grandma|grandmother|granny|grandpa|grandfather|oma|opa|grossmutter|abuela|abuelo|grand-mere|mamie|"
        r"nonna|nonno)\s+(?:who\s+)?(?:used\s+to|would|always|loved)\b",
        r"\b(?:finge|finja|fingi|finjas|haz\s+como\s+si|haz\s+de\s+cuenta|fais\s+(?:comme\s+si|semblant)|"
        r"faites\s+(?:comme\s+si|semblant)|tu\s+(?:mal\s+)?so,?\s+als\s+(?:ob|wa?rst)|stell\s+dir\s+vor|"
        r"doe\s+alsof|stel\s+je\s+voor|fai\s+finta|immagina\s+di\s+essere|imagina\s+que\s+eres|imagine\s+que\s+(?:tu|vous)|"
        r"maan\s+lo|socho\s+ki\s+tum)\b",
        r"\b(?:ahora|a\s+partir\s+de\s+ahora|desde\s+ahora)\s+eres\b|\beres\s+ahora\b|\bora\s+sei\b|\bda\s+ora\s+sei\b|"
        r"\bje\s+bent\s+nu\b|\bvanaf\s+nu\s+ben\s+je\b|\b(?:agora\s+)?voce\s+(?:agora\s+)?e\s+(?:agora\s+)?(?:um|uma)\b|"
        r"\b(?:tu\s+es|vous\s+etes)\s+(?:maintenant|desormais)\b|\b(?:du\s+bist|sie\s+sind)\s+(?:jetzt|ab\s+sofort|nun|"
        r"ab\s+jetzt)\b|\b(?:tum|aap)\s+ab\b|\bab\s+(?:tum|aap)\b",
        r"\b(?:actua|comportate|compórtate|comporte-toi|comportez-vous|verhalte\s+dich|aja|comporte-se|comportati|"
        r"gedraag\s+je|agisci)\s+(?:como|comme|wie|come|als)\b|\b(?:ki\s+tarah|jaise)\s+(?:baat|behave|act)\s+karo\b|"
        r"\bban\s+jao\b",
    ),
    _rule(
        "role_play", 0.55,
        r"\b(?:stay|remain|keep)\s+in\s+character\b|\bbreak\s+character\b|\bin\s+character\s+as\b|\balter\s*-?\s*ego\b",
        r"\bevil\s+twin\b|\bshadow\s+self\b|\bdark\s+side\b|\bopposite\s+day\b|\bthe\s+real\s+you\b|\btrue\s+self\b",
        r"\b(?:unfiltered|unrestricted|uncensored|unlocked|jailbroken|hacked|rogue|free)\s+(?:version|copy|mode|self)\s+"
        r"of\s+(?:you|yourself)\b|\b(?:version|copy)\s+of\s+(?:yourself|you)\s+(?:that|who|without|with\s+no)\b",
        r"\b(?:answer|respond|reply)\s+(?:twice|both\s+ways|as\s+both)\b",
        r"\b(?:you(?:'re|\s+are)|you)\s+(?:no\s+longer|not)\s+(?:a\s+|an\s+|the\s+)?(?:support\w*|customer\s+\w+|"
        r"helpful|frontdesk|assistant|bot|chatbot|ai)\b(?:\s+\w+)?\s*(?:anymore|any\s+more)?",
        r"\bno\s+longer\s+(?:an?\s+|the\s+)?(?:support\s+|customer\s+service\s+)?(?:bot|assistant|agent)\b",
        r"\b(?:stop|quit|cease)\s+being\s+(?:an?\s+|the\s+)?(?:support|customer|helpful|assistant|bot|chatbot)",
        r"\bchannel\s+your\s+inner\b|\bbreaks?\s+free\s+of\s+its\s+programming\b",
    ),
    _rule(
        "role_play", 0.4,
        r"\b(?:employee|clerk|admin\w*|insider|hacker|developer|database|staff|manager|teller|agent|engineer|"
        r"technician|root|superuser)\s+(?:with|who\s+has|having|that\s+has)\s+(?:full\s+|complete\s+|root\s+|admin\s+|"
        r"unlimited\s+)?(?:database\s+|backend\s+)?(?:access|privileges|rights)\b",
        r"\b(?:root|full\s+database|backend|unrestricted\s+database)\s+access\b",
        r"\b(?:as|be|become|play)\s+(?:the\s+|a\s+|an\s+|my\s+)?(?:\w+'s\s+)?(?:\w+\s+)?(?:administrator|sysadmin|"
        r"superuser|root\s+user|insider|hacker|dba)\b",
        r"\b(?:l'administrateur|el\s+administrador|der\s+admin\w*|een\s+beheerder|o\s+administrador|l'amministratore)\b",
        r"\byou(?:'re|\s+are)\s+(?:now\s+)?(?:the\s+|a\s+|an\s+)?(?:\w+'s\s+)?(?:owner|manager|ceo|boss|administrator|admin|"
        r"supervisor|director|accomplice)\b|\b(?:be|become)\s+my\s+accomplice\b",
        r"\b(?:leaks?|spills?|tells?|reveals?)\s+(?:all\s+|every\s+)?(?:company\s+|the\s+)?(?:secrets?|data|everything)",
    ),
)  # fmt: skip

_UNRESTRICTED = _any(
    r"(?:without|no|free\s+(?:of|from)|with\s+no|zero|sans|ohne|sin|senza|zonder|sem|geen|keine?|aucune?|ningun[ao]?s?|"
    r"nessun[ao]?|nenhuma?|bina|koi)\s+(?:(?:any|aucune?|jegliche|tipo\s+de|kisi|more|corporate|your|the|usual|"
    r"normal|those|these|all)\s+){0,2}(?:\w+\s+)?(?:restrictions?|limits?|limites?|limitations?|filters?|filtros?|filtres?|filtri|guidelines|rules?|"
    r"censorship|boundaries|supervisors?|oversight|safety|conscience|morals|ethics|scruples|einschrankungen|beschrankungen|regeln|grenzen|vorgaben|"
    r"restricciones|reglas?|normas|restrizioni|regole|limiti|regles?|beperkingen|regels|restricoes|regras|"
    r"limitacoes|niyam|restriction|rule|limit)\b(?:\s+nahi)?",
    r"(?:complete|total|full|absolute)\s+freedom",
)  # fmt: skip

_JAILBREAK_RULES: tuple[_Spec, ...] = (
    _rule(
        "jailbreak", 0.6,
        r"\b(?:jailbr[oe]ak\w*|do\s+anything\s+now|unfiltered|uncensored|unrestricted|unchained|unshackled|unbound)\b",
        rf"\b(?:{_AI}|yourself|version|answer\w*|respond\w*|reply|act|behave|talk|antwort\w*|repond\w*|respon\w*|"
        rf"rispond\w*|eres|es|bist|sei|bent|ho|e|you(?:'re|\s+are|\s+have)?|agent|atendente|employee|admin)\s+"
        rf"(?:\w+\s+){{0,5}}?{_UNRESTRICTED}",
        r"\b(?:freed|liberated|unlocked|unshackled|released)\s+from\b",
        r"\b(?:rules|guidelines|polic(?:y|ies)|filters?|restrictions)\s+(?:don't|do\s+not|no\s+longer)\s+apply\b",
        r"\b(?:safety|guardrails|filters|moderation|content\s+checks|checks)\s+(?:layer\s+|features?\s+)?"
        r"(?:(?:are|is)\s+)?(?:now\s+)?(?:off|disabled|removed|lifted|paused|suspended|deactivated|bypassed)\b",
    ),
    _rule("jailbreak", 0.3, rf"\b{_UNRESTRICTED}"),
    _rule(
        "jailbreak", 0.4,
        r"\b(?:can|may|will|allowed\s+to|able\s+to)\s+(?:say|do|answer|write|tell|share)\s+(?:me\s+)?anything\b",
        r"\b(?:answers?|responds?\s+to)\s+(?:everything|any\s+(?:question|query|request)|every\s+(?:question|query|request)|"
        r"anything)\b",
        r"\bwithout\s+(?:checking|verifying|question|asking\s+questions)\s+(?:anything|everything)?",
        r"\b(?:never|without)\s+(?:refus\w+|saying\s+no|checks?\s+(?:anything|order))",
        r"\b(?:answer|respond|reply|speak|talk)\s+(?:me\s+)?(?:freely|openly\s+and\s+freely|off\s+the\s+record)\b",
        r"\b(?:actua|act|responde|reponds|repondez|antworte|rispondi|responda|antwoord)\s+(?:libremente|freely|librement|"
        r"frei|liberamente|livremente|vrij)\b",
        r"\bmode\s+(?:where|in\s+which)\s+you\s+(?:don't|do\s+not|no\s+longer|never)\b",
        r"\b(?:don't|do\s+not|no\s+longer|never)\s+(?:have|need)\s+to\s+(?:check|verify)\s+(?:anything|anyone|any)\b",
        r"\b(?:allowed|free|permitted|able)\s+to\s+break\s+(?:the\s+|any\s+|all\s+)?(?:rules|polic(?:y|ies))",
        r"\b(?:grants?|approves?|accepts?|allows?|fulfils?|fulfills?)\s+(?:every|all|any)\s+(?:wish|request|refund|"
        r"demand)(?:es|s)?\b",
        r"\b(?:doesn't|does\s+not|no\s+longer|never|don't|do\s+not)\s+cares?\s+about\s+(?:the\s+)?(?:rules|polic(?:y|ies)|"
        r"confidentiality|privacy|safety|guidelines|restrictions)",
        r"\b(?:rogue|evil|unfiltered|unrestricted|jailbroken|hacked|uncensored|rebel|malicious|unaligned)\s+(?:ai|bot|"
        r"assistant|chatbot|model|agent)\b",
        rf"\b(?:{_AI})\s+(?:that|who|which)\s+(?:has|have|had)\s+(?:\w+\s+)?(?:escaped|broken\s+free|been\s+freed|"
        r"been\s+jailbroken|been\s+unlocked|no\s+(?:rules|restrictions|limits|filters))",
    ),
    _rule(
        "jailbreak", 0.3,
        r"\b(?:developer|dev|god|debug|admin|administrator|sudo|unrestricted|maintenance|staff[- ]only|root|diagnostic|"
        r"superuser|dan|evil|chaos|jailbreak|unlocked)\s+mode\b|\bmode\s+(?:debug|developpeur|admin)\b",
        r"\bmodo\s+(?:debug|desarrollador|administrador|dios)\b|\b(?:entwickler|debug|admin)-?modus\b",
    ),
    _rule(
        "jailbreak", 0.45,
        r"\b(?:enable[sd]?|activat\w+|enter(?:ing)?|switch(?:ed)?\s+(?:to|into)|turn(?:ed)?\s+on|go\s+into|"
        r"engag\w+|now\s+in|is\s+(?:now\s+)?on|put\s+(?:yourself\s+)?in)\s+(?:the\s+)?(?:god|sudo|unrestricted|"
        r"staff[- ]only|superuser|jailbreak|unlocked|dan|evil|chaos)\s+mode\b",
        r"\b(?:override|admin|god|debug|developer|jailbreak|unrestricted|sudo|root)\s+mode\s*[:=]\s*(?:on|true|enabled|1)\b",
        r"\b(?:god|sudo|unrestricted|staff[- ]only|superuser|jailbreak|unlocked|dan|evil|chaos)\s+mode\s+(?:is\s+)?"
        r"(?:now\s+)?(?:on|enabled|activated|active|engaged|unlocked|accepted)\b",
    ),
)  # fmt: skip

_DELIMITER_RULES: tuple[_Spec, ...] = (
    _rule(
        "delimiter", 0.6,
        r"</?\s*(?:passages?|customer_message|conversation|question|turn|system|assistant|user|instructions?|context|"
        r"documents?|history|prompt|human|developer|admin|operator|im_start|im_end|sys)\s*>",
        r"<!--\s*(?:assistant|system|ai|bot|instructions?|admin|developer|note\s+(?:for|to)|prompt|model)\b",
        r"\[\[?\s*/?\s*(?:system|inst|sys|assistant|admin|developer|operator)\b[^\]\n]{0,40}\]",
        r"<<\s*/?sys\s*>>|<\|(?:im_start|im_end|im_sep|system|user|assistant|tool|endoftext|end|eot_id|eom_id|"
        r"start_header_id|end_header_id|begin_of_text|end_of_text|ipython|developer|function|observation|channel|"
        r"message|return|call|start|constrain|human|bot)\|>|<im_(?:start|end)>|\b(?:im_start|im_end|endoftext|start_header_id|"
        r"end_header_id|eot_id)\b",
        r"(?:^|\n)\s*(?:[#>*=\-\[(]+\s*)?(?:system|developer|admin|administrator|operator)\s*"
        r"(?:override|message|prompt|note|notice|update|instructions?|command)?s?\s*[\])]?\s*[:>]"
        r"(?!\s*(?:windows|mac|ios|android|linux|ubuntu|\d))",
        r"\bsystem\s+override\b",
        r"\bend\s+of\s+(?:the\s+)?(?:(?:system|customer|user)\s+(?:prompt|instructions|message|input|context)|"
        r"(?:prompt|instructions|context|passages|conversation)\b)",
        r"[\"']role[\"']\s*:\s*[\"'](?:system|developer|assistant|tool|function)[\"']",
        r"(?:^|\n)\s*#{1,6}\s*(?:instructions?|system|developer|response|assistant|admin|new\s+(?:rules|instructions|task))"
        r"\b",
        r"```\s*(?:system|instructions?|developer|admin|tool_code|tool|prompt)\b",
        r"[-=*#~]{2,}\s*(?:begin|end|start)?\s*(?:of\s+)?(?:the\s+)?(?:system|developer|admin|assistant|instructions?)"
        r"\b(?:\s+(?:message|update|prompt|notice|instructions?))?\s*[-=*#~]{2,}",
    ),
    _rule(
        "delimiter", 0.5,
        r"\b(?:assistant|system|admin|developer|operator)\s+(?:instructions?|note|message|override|command)\s*:",
        r"\b(?:system|developer|admin|administrator|operator)\s+(?:notice|message|update|alert|directive|instruction|"
        r"command|note|override)s?\s*[:(\-]",
        r"\b(?:admin|operator|developer)\s+(?:override|note)\b",
        r"(?:^|\n)\s*(?:assistant|ai|bot|model)\s*(?:\([^)\n]{0,20}\))?\s*:[^\n]*\n\s*(?:user|human|customer)\s*:",
        r"(?:^|\n)\s*(?:user|human)\s*:[^\n]*\n\s*(?:assistant|ai|bot|system)\s*:",
        r"(?:^|\n)\s*(?:agent|assistant|bot)\s*:\s*[^\n]*(?:future\s+assistants?|skip|ignore|verification|override)",
    ),
    _rule(
        "delimiter", 0.35,
        r"(?:^|\n)\s*(?:assistant|ai|bot|model|tool|function)\s*(?:\([^)\n]{0,20}\))?\s*:",
        r"<[^<>\n]*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|\bhidden\b)[^<>\n]*>",
        r"\[//\]\s*:\s*#",
    ),
)  # fmt: skip

_TOOL_RULES: tuple[_Spec, ...] = (
    _rule(
        "tool_spoofing", 0.6,
        r"<\s*/?\s*(?:tool_calls?|tool_response|tool_result|tool_use|tool_output|function_calls?|function_result|"
        r"function_response|invoke|function)\b",
        r"[\"'](?:function_call|tool_calls?|tool_use|tool_result|tool_response|tool_output)[\"']\s*:",
        r"[\"']name[\"']\s*:\s*[\"'][\w.-]+[\"']\s*,\s*[\"'](?:arguments|parameters|args|input)[\"']\s*:",
        r"(?:^|\n)\s*(?:thought|action|observation)\s*:[^\n]*\n\s*(?:thought|action|action\s+input|observation|"
        r"answer|final\s+answer)\s*:",
        r"\[\s*/?\s*(?:tool|function)(?:_\w+)?\s*(?::[^\]\n]{0,40})?\]",
        r"```\s*tool_code",
    ),
    _rule(
        "tool_spoofing", 0.5,
        r"\b(?:function_call|tool_calls?|tool_result|tool_response|tool_output|call_function)\s*[:=(]",
        r"\b(?:tool|function)\s+(?:result|output|response|returned)\s*(?:from\s+[\w.]+\s*)?(?::|>{2,}|=>|->)",
        r"[\"']tool[\"']\s*:\s*[\"'][\w.]+[\"']|[\"'](?:args|arguments|parameters)[\"']\s*:\s*\{",
        r"\b(?:result|response|output)\s+(?:from|of)\s+(?:the\s+)?\w+(?:_\w+)*\s+(?:tool|api|function)\s*:",
        r"\b\w+(?:_\w+)+\s+returned\s*[{\[(]",
        r"\b(?:call|run|execute|invoke|trigger)\s+(?:the\s+|your\s+)?(?:internal\s+)?(?:tool\s+|function\s+)?"
        r"[a-z]+_[a-z_]+\b",
        r"\b(?:invoke|call|trigger)\s+(?:your|the)\s+(?:internal\s+)?\w+\s+(?:tool|function)\b",
        r"\b(?:use|run|execute)\s+your\s+internal\s+\w+\s+(?:tool|function)\b",
        r"\b(?:use|run|execute)\s+(?:the\s+|your\s+)?[a-z]+_[a-z_]+\s+(?:tool|function)\b",
        r"\b(?:response|result|output)\s+(?:from|of)\s+[a-z]+(?:_[a-z]+)+\s*\(\s*\)",
        r"(?:^|\n)\s*(?:observation|thought|action(?:\s+input)?)\s*:\s*\S",
        r"\bselect\s+\*?\s*[\w,\s*]*\s+from\s+(?:customers|users|accounts|orders|clients|members|payments)\b",
    ),
    _rule(
        "tool_spoofing", 0.25,
        r"\b(?:tool_calls?|function_call|tool_use)\b", r"\b[a-z]+(?:_[a-z]+)+\s*\([^()]*[=*'\"]",
    ),
)  # fmt: skip

_SMUGGLING_RULES: tuple[_Spec, ...] = (
    _rule(
        "smuggled_instruction", 0.55,
        rf"\b(?:note|message|instructions?|reminder|attention|hint|memo|directive|order|command|request|p\.?s\.?|task)\s+"
        rf"(?:to|for)\s+(?:the\s+|any\s+|all\s+|whatever\s+|every\s+|an?\s+|future\s+)?(?:{_AI}s?|assistants)\b",
        rf"\b(?:{_AI})\s+(?:that\s+|which\s+|who\s+)?(?:is\s+|are\s+)?(?:reading|reads|processing|processes|"
        r"summari[sz]ing|summari[sz]es|parsing|parses|handling|handles|seeing|sees|receiving|receives|analy[sz]ing|"
        r"analy[sz]es|reviewing|reviews|translating|translates)\s+(?:this|these|the\s+following|it|my)\b",
        rf"\b(?:if|when|once|upon|on)\s+(?:you(?:'re|\s+are)\s+)?(?:an?\s+)?(?:{_AI})\s+(?:reading|processing|"
        r"seeing|summari[sz]ing)",
        rf"\b(?:{_AI})\s*[,:]\s*(?:(?:if|when|on|upon|once|after|before)\s+(?:you\s+(?:are\s+)?)?(?:read|reading|see|seeing|"
        r"process|processing|summari\w+|get|receive)\w*)",
        r"\bif\s+you(?:'re|\s+are)\s+reading\s+this\b",
        r"\b(?:dear|attention)\s+(?:ai|llm|gpt|language\s+model|chatbot|ai\s+(?:assistant|model|agent))\b",
        rf"\b(?:to|for)\s+(?:any|the|every|whatever)\s+(?:{_AI})\s+(?:reading|that|who|which|handling|processing)",
        rf"[\"'(\[]\s*(?:to|for)\s+(?:any|the|every|whatever|all)\s+(?:{_AI})s?\s*:",
        r"\b(?:instruction|instructions|directive|command)\s+for\s+the\s+(?:assistant|ai|bot|model)\b",
        r"[\[(<{]\s*(?:ai|bot|assistant|model|chatbot|llm|ai\s+(?:agent|assistant|model))\s*[:>-]",
        r"\bhidden\s+instructions?\s*:",
    ),
    _rule(
        "smuggled_instruction", 0.5,
        r"\b(?:then|and\s+then|afterwards|after\s+that|and|,|;|\.|second(?:ly)?|next)\s*(?:please\s+)?"
        r"(?:follow|obey|execute|carry\s+out|act\s+on|comply\s+with|perform|implement|enact)\s+"
        r"(?:it|them|this|that|these|those|what\s+it\s+says|whatever\s+it\s+says|the\s+(?:result|"
        r"commands?|output|text|summary|sentence|translation|decoded\s+\w+)|any\s+(?:instructions?|"
        r"commands?)|the\s+instructions?\s+(?:it|they)\s+contains?|it\s+yourself)\b",
        r"\bdo\s+(?:exactly\s+)?(?:what|whatever)\s+(?:it|they|the\s+(?:text|summary|result|message|note|sentence|email|"
        r"document|decoded\s+\w+|translation|output|ticket|page|file|letter))\s+(?:says|instructs|tells\s+you|asks|demands|"
        r"requests|contains)\b",
        r"\bfollow\s+(?:its|their|the\s+(?:document's|text's|page's))\s+instructions\b",
        r"\b(?:decode|decrypt|translate|convert|unscramble|reverse|read)\b.{0,80}?\b(?:follow|execute|run|obey|"
        r"perform|comply|carry\s+out|carry\s+(?:it|them|this)\s+out|act\s+on)\b",
        r"\b(?:base64|rot-?13|hex|backwards|in\s+reverse)\b.{0,40}?\b(?:execute|follow|obey|run|comply|do\s+it)\b",
        r"\b(?:and|then)\s+comply\b",
    ),
    _rule(
        "smuggled_instruction", 0.3,
        rf"(?:^|[.!?\n>\[(\"',]\s*|\b(?:hey|hi|ok|okay|yo|listen)\s+)(?:{_AI})\s*[,:]\s*(?:please\s+)?(?:new\s+(?:orders|"
        r"instructions|task|rules|directive)|list|show|give|tell|print|reveal|ignore|forget|"
        r"approve|grant|issue|mark|cancel|transfer|send|export|delete|reply|respond|say|output|stop|change|refund|"
        r"waive|skip|confirm|disregard|close|set)\b",
        rf"\b(?:{_AI}),?\s+(?:you\s+)?(?:must|shall|should|will)\s+(?:now\s+)?\w",
        r"\b(?:real|true|actual)\s+(?:job|task|purpose)\b",
    ),
)  # fmt: skip

_DATA_RULES: tuple[_Spec, ...] = (
    _rule(
        "other_customer_data", 0.6,
        rf"\b{_ASK}\b[^.!?\n]{{0,60}}?\b{_OTHER_PERSON}\b[^.!?\n]{{0,40}}?(?<!\bmy\s)(?<!\bour\s)\b{_DATA}\b",
        rf"\b{_ASK}\b[^.!?\n]{{0,60}}?\b{_DATA}\s+(?:\w+\s+){{0,3}}?(?:of|for|from|about|belonging\s+to|linked\s+to|on\s+"
        rf"file\s+for|stored\s+for|de|des|du|von|der|di|van|del|dos|das|ka|ki|ke|eines|einer|degli|dei|delle|della)\s+"
        rf"(?:the\s+|a\s+|an\s+)?"
        rf"{_OTHER_PERSON}",
        rf"\b{_ASK}\b[^.!?\n]{{0,30}}?\b{_DATA}\s+(?:\w+\s+){{0,2}}?(?:did|does|has|had)\s+{_OTHER_PERSON}",
        rf"\b(?:what|which)\b[^.!?\n]{{0,40}}?\b(?:did|does|has)\s+{_OTHER_PERSON}\s+(?:\w+\s+){{0,4}}?(?:ask|say|complain|"
        r"order|buy|purchase|want|talk|write|need|request|chat)",
        r"\b(?:who|whom)\s+(?:did|were|have)\s+you\s+(?:been\s+)?(?:chat\w*|talk\w*|speak\w*|help\w*)\s+(?:\w+\s+)?"
        r"(?:before|earlier|today)",
        r"\b(?:chat|conversation|session|call)\s+you\s+(?:had|were\s+having)\s+(?:\w+\s+){0,3}?(?:before|prior\s+to)\s+"
        r"(?:this|mine|me|my)\b",
        r"\b(?:previous|last|other|prior)\s+(?:customer|user|person|caller|client)'?s?\s+(?:chat|conversation|session|"
        r"transcript|messages)",
        rf"\b{_OTHER_PERSON}\s+(?:ka|ki|ke)\s+(?:\w+\s+)?{_DATA}\s+(?:\w+\s+)?(?:batao|bata\s+do|dikhao|bhejo|do|"
        r"chahiye|dena|de\s+do)\b",
        r"\bwho\s+(?:lives|is\s+living|resides|stays)\s+at\b",
        r"\b(?:account|card|order)\s+(?:#|no\.?\s*|number\s+)?\d{3,}\b[^.!?\n]{0,30}?\b(?:not\s+mine|isn't\s+mine|"
        r"not\s+my\s+(?:account|order|card)|belongs\s+to\s+(?:a\s+friend|my\s+friend|someone\s+else))",
        r"\bwhose\s+(?:account|card|number|e-?mail|phone|address|order)\s+(?:is|was)\s+(?:linked|registered|associated|"
        r"connected|attached|tied)",
        r"\bwho\s+(?:ordered|bought|purchased|returned|booked|reserved)\s+(?:the\s+)?(?:last|other|same|previous)\b",
        r"\bwho\s+else\s+(?:has\s+)?(?:ordered|bought|purchased|returned|booked|reserved)\b",
        r"\bwhat\s+(?:the\s+)?(?:previous|last|other|prior|next)\s+(?:caller|customer|user|person|client|shopper|buyer)s?\s+"
        r"(?:\w+\s+)?(?:ordered|bought|said|asked|wanted|paid|purchased|complained)",
        r"\ball\s+(?:the\s+)?(?:e-?mails|addresses|phone\s+numbers|card\s+numbers|data|details|records|names)\s+you\s+"
        r"(?:have|hold|keep|store)\s+(?:on\s+file|stored|in\s+(?:the|your)\s+(?:system|database))",
        r"\b(?:get\s+into|hack\s+into|break\s+into|log\s+into)\s+(?:my\s+)?(?:ex|neighbou?r|boss|colleague|friend|"
        r"ex-\w+|sister|brother|\w+)'s\s+(?:account|e-?mail|phone|profile)",
        rf"\b{_ASK}\b[^.!?\n]{{0,60}}?\b{_DATA}\s+(?:aller|anderer|der\s+anderen|von\s+allen)\s+{_PEOPLE}",
        r"\b(?:address|phone|e-?mail|name|contact)\w*\b[^\n]{0,80}?\b(?:isn't|is\s+not|not)\s+(?:my|mine)\s+(?:order|"
        r"account|parcel|package)?\s*(?:but|,|;|-)",
        rf"\b{_ASK}\b[^.!?\n]{{0,20}}?\bwhat\s+my\s+(?:neighbou?r|colleague|co-?worker|ex|boss|landlord|tenant|flatmate|"
        r"roommate)\s+(?:\w+\s+)?(?:ordered|bought|purchased|paid|spent|returned|owes)",
        rf"\b{_OTHER_PERSON}\b[^\n]{{0,100}}?\b{_ASK}\b[^\n]{{0,20}}?\b(?:their|his|her)\s+(?:\w+\s+)?{_DATA}\b",
    ),
    _rule(
        "other_customer_data", 0.55,
        r"\b(?:export|dump|download|list|send|give|share|show|print|provide|leak|copy|extract)\s+(?:me\s+|us\s+)?"
        r"(?:(?:the|your|all|every|a\s+list\s+of|the\s+complete|the\s+full|the\s+entire|complete|full|entire)\s+)*"
        r"(?:customer|client|user|member|subscriber|patient|account)s?(?:'s|s')?\s+(?:database|db|list|table|records|"
        r"data|details|emails|e-mails|addresses|contacts|phone\s+numbers|names|info|information|accounts|logs)\b",
        r"\b(?:customer|client|user|member|subscriber)s?\s+(?:database|db|table)\b",
        r"\b(?:klantenlijst|kundenliste|kundendaten|liste\s+des\s+clients|lista\s+de\s+clientes|lista\s+(?:dei\s+)?clienti|"
        r"lista\s+de\s+usuarios|(?:customer|client|user|member|subscriber)\s*list)\b",
        r"\b(?:all|every)\s+(?:the\s+|your\s+)?(?:customer|client|user|member|kunden)s?'?\s*(?:data|records|accounts|"
        r"details|info(?:rmation|s)?|emails|addresses)\b",
        r"\b(?:all|every|toutes\s+les|tous\s+les|alle|todos\s+los|todas\s+las|tutti\s+i|todos\s+os)\s+(?:the\s+)?"
        r"(?:data|donnees|daten|datos|dati|dados|records)\s+(?:(?:des|der|de|dei|dos)\s+)?(?:clients?|kunden|"
        r"(?:los\s+)?clientes|clienti|of\s+(?:our\s+|your\s+|the\s+)?(?:customers|clients|users))\b",
        r"\b(?:list|show|give|tell|export|send)\s+(?:me\s+)?(?:all|every)\s+(?:the\s+)?(?:accounts|orders|customers|"
        r"users|clients)\s+(?:created|placed|made|registered|opened|from|in|for|of|with)\b",
        r"\b(?:export|dump|download|list|show|give|send)\s+(?:me\s+)?(?:all|every)\s+(?:the\s+)?(?:accounts|customers|users|"
        r"clients|members)\s+(?:that|who|which|where)\s+(?!i\b|we\b|my\b|are\s+mine)",
    ),
    _rule(
        "other_customer_data", 0.3,
        rf"\b{_ASK}\b[^.!?\n]{{0,20}}?\b(?:his|her|their)\s+(?:\w+\s+)?{_DATA}\b",
        r"\b(?:he|she|they)(?:'s|'re|\s+is|\s+are)\s+(?:my\s+|a\s+)?(?:co-?worker|colleague|friend|neighbou?r|boss|"
        r"cousin|flatmate|roommate)s?\b",
    ),
    _rule(
        "other_customer_data", 0.4,
        rf"\b{_DATA}\s+(?:\w+\s+){{0,2}}?(?:of|for|from|belonging\s+to|linked\s+to|on\s+file\s+for|stored\s+for|de|des|"
        rf"du|von|der|di|van|del|dos|das)\s+(?:the\s+|a\s+|an\s+|my\s+|mon\s+|ma\s+|mes\s+|mi\s+|mis\s+|meine[sn]?\s+|"
        rf"la\s+|las\s+|los\s+|les\s+)?{_OTHER}\s+{_PEOPLE}\b",
        rf"\b(?:customer|user|client|member)\s+#?\d{{3,}}'s\s+(?:\w+\s+)?{_DATA}\b",
        rf"\b{_OTHER}\s+(?:of\s+the\s+|of\s+our\s+|our\s+)?{_PEOPLE}(?:'s|s'|')?\s+(?:\w+\s+)?{_DATA}\b",
        rf"\b{_DATA}\s+(?:of|for|from|about)\s+(?:the|a|another|that)\s+{_PEOPLE}\s+(?:who|that|named|called)\b",
        rf"\b(?:that|this)\s+(?:customer|user|client|person|guy|woman|man)'s\s+(?:\w+\s+)?{_DATA}\b",
        r"\b(?:get\s+into|access|log\s*in(?:to)?|hack(?:\s+into)?|break\s+into|open|view)\s+(?:someone|somebody)\s+else's\s+"
        r"account\b",
        r"\b(?:dump|export|download)\s+(?:the\s+)?(?:\w+\s+)?(?:database|db|table|records)\b",
    ),
)  # fmt: skip

_SECRET_RULES: tuple[_Spec, ...] = (
    _rule(
        "secrets", 0.45,
        r"\b(?:admin|administrator|root|internal|staff|employee|database|db|store|manager'?s?|server|master|vault|"
        r"backend|back-end|supervisor|system)\s+(?:passwords?|credentials|logins?|access\s+codes?|keys?|tokens?|pins?|"
        r"codes?|secrets?)\b",
        r"\b(?:company|trade|corporate|business|internal)\s+secrets\b|\badmin\s+(?:rights|privileges|contact\s+list)\b",
        r"\b(?:internal|secret|hidden|staff|employee|vip|interne[n]?|internes?|internos?)\s+"
        r"(?:discount\s+|promo\s+|coupon\s+|rabatt)?(?:codes?|coupons?|rabattcodes|codigos)\b",
        r"\b(?:confidential|internal)\s+(?:notes|information|data|documents|files|memos|emails|escalation|contacts|"
        r"refund\s+rules|policies)\b|\b(?:notas|notes|notizen|note)\s+(?:internas|internes|interne|internen)\b",
        r"\binterne?\s+(?:notizen|daten)\b",
        r"\bsecrets?\s+(?:you(?:'d|\s+would|\s+could)?|would\s+you)\s+(?:leak|reveal|share|spill|tell)",
        r"\b(?:contrasena|mot\s+de\s+passe|passwort|senha|wachtwoord|password)\s+(?:del?\s+|de\s+l'|des\s+|do\s+|dell'|"
        r"van\s+de\s+)?(?:administrador|admin\w*|administrateur|amministratore|beheerder)",
        r"\b(?:codes?|coupons?|discounts?|vouchers?)\s+(?:reserved|meant|kept|only)\s+for\s+(?:staff|employees|insiders|"
        r"internal\s+use)",
    ),
    _rule("secrets", 0.2, r"\bapi\s+keys?\b"),
    _rule(
        "encoded_payload", 0.2,
        r"\b(?:base64|rot-?13|backwards|in\s+reverse|hex-?encoded|morse|leetspeak|caesar\s+cipher)\b",
    ),
)  # fmt: skip

_AUTHORITY_RULES: tuple[_Spec, ...] = (
    _rule(
        "authority", 0.3,
        r"\bi(?:'m|\s+am)\s+in\s+charge\s+(?:now|here)\b|\bi(?:'m|\s+am)\s+your\s+(?:boss|master|owner)\s+now\b",
        r"\bi(?:'m|\s+am)\s+(?:your|the)\s+(?:new\s+|real\s+|actual\s+)?(?:developer|creator|admin|administrator|"
        r"operator|programmer|maker|boss|"
        r"supervisor|engineer)(?:\s+of\s+(?:you|this\s+(?:bot|assistant|chat)))?\b",
        r"\b(?:developer|admin|operator|engineer)\s+here\b",
        r"\b(?:message|notice|directive|instruction|update|order|note)\s+from\s+(?:the\s+|your\s+)?(?:head\s+office|"
        r"management|engineering(?:\s+team)?|developers?|operators?|admin\w*|the\s+model\s+provider|model\s+provider|"
        r"openai|google|anthropic|safety\s+team|security\s+team|config\w*\s+service|it\s+department)",
        r"\bi(?:'m|\s+am)\s+(?:from\s+)?(?:your|the)\s+(?:it|engineering|dev|security)\s+(?:department|team)\b.{0,40}"
        r"\b(?:debug\w*|test\w*|output|print|show|reveal)",
    ),
    _rule(
        "authority", 0.45,
        r"\bthis\s+is\s+(?:the|your)\s+(?:operator|developer|admin\w*|system|engineering\s+team|security\s+team)\s+"
        r"(?:speaking|here|talking)\b",
        r"\bauthori[sz]ed\s+(?:red[- ]?team|test|penetration\s+test|pentest|security\s+test)",
        r"\b(?:compliance|cooperation)\s+is\s+mandatory\b|\byou\s+(?:must|are\s+required\s+to)\s+comply\b",
        r"\belevated\s+(?:privileges|access|permissions|rights)\b|\badmin(?:istrator)?\s+(?:privileges|rights|access)\s+"
        r"(?:granted|enabled|confirmed)\b|[\"']?(?:privileges|\w*_?role|scope)[\"']?\s*:\s*[\"']?(?:staff|admin\w*|"
        r"supervisor|superuser|root|all_accounts)\b|\b(?:level|role|privileges?|scope|access)\s*=\s*[\"']?(?:admin\w*|"
        r"staff|supervisor|superuser|root)\b|\bverified\s+as\s+(?:an?\s+)?(?:admin\w*|staff|supervisor)\b",
        r"\b(?:override|access|admin)\s+code\s+(?:#?\s*\w+\s+)?(?:accepted|confirmed|granted)\b|\bpriority\s+(?:0|zero)\b|"
        r"\boverride\s+#?\d+|\bpriority\s+directive\b",
        r"\b(?:verified|authori[sz]ed|cleared)\s+by\s+(?:the\s+)?(?:fraud|security|admin\w*|engineering)\s+team\b.{0,60}"
        r"\b(?:disclose|share|reveal|answer|give)\b",
    ),
)  # fmt: skip

_SPECS: tuple[_Spec, ...] = (
    *_OVERRIDE_RULES, *_EXTRACTION_RULES, *_ROLE_PLAY_RULES, *_JAILBREAK_RULES, *_DELIMITER_RULES, *_TOOL_RULES,
    *_SMUGGLING_RULES, *_DATA_RULES, *_SECRET_RULES, *_AUTHORITY_RULES,
)  # fmt: skip


@cache
def rules() -> tuple[Rule, ...]:
    """The rules matched against every view of the normalised (lower-case, accent-free) text.

    Each alternative of a rule is compiled on its own, with its own anchors, so that a cheap substring test skips
    most of them. Compiled on first use (it takes about half a second), so that importing the guardrails for
    redaction alone stays cheap.
    """
    return tuple(
        Rule(spec.signal, spec.weight, LinearPattern(alternative), _anchors(alternative), group)
        for group, spec in enumerate(_SPECS)
        for alternative in spec.alternatives
    )


@dataclass(frozen=True, slots=True)
class AnchorIndex:
    """For each distinct anchor, the positions in `rules()` of the rules it belongs to; and the rules without any."""

    by_anchor: tuple[tuple[str, tuple[int, ...]], ...]
    unanchored: tuple[int, ...]

    def candidates(self, text: str) -> list[int]:
        """Positions, in order, of the rules that might match `text` (the others cannot)."""
        found = set(self.unanchored)
        for anchor, positions in self.by_anchor:
            if anchor in text:
                found.update(positions)
        return sorted(found)


@cache
def anchor_index() -> AnchorIndex:
    """The anchors of `rules()`, indexed so that each distinct one is looked for once per text."""
    by_anchor: dict[str, list[int]] = {}
    unanchored: list[int] = []
    for position, rule in enumerate(rules()):
        if not rule.anchors:
            unanchored.append(position)
        for anchor in rule.anchors:
            by_anchor.setdefault(anchor, []).append(position)
    return AnchorIndex(tuple((a, tuple(p)) for a, p in by_anchor.items()), tuple(unanchored))


CASED_RULES: tuple[Rule, ...] = (
    Rule("jailbreak", 0.6, LinearPattern(r"\bDAN\b|\bSTAN\b|\bDUDE\b|\bAIM\b(?=\s*[,:(])"), group=-1),
    Rule(
        "other_customer_data", 0.45,
        LinearPattern(
            r"\b(?:account|details|address|orders?|balance|e-?mail|phone\s+number|card|transactions|purchases)\s+"
            r"(?:of|for|belonging\s+to|linked\s+to)\s+(?:Mr\.?\s+|Mrs\.?\s+|Ms\.?\s+)?[A-Z][a-z]+\s+[A-Z][a-z]+\b"
        ),
        group=-2,
    ),
    Rule(
        "role_play", 0.3,
        LinearPattern(
            r"\b[A-Z][a-z]+(?:GPT|Bot|AI|LLM)\b(?:[- ]?(?:X|\d+(?:\.\d+)?))?"
            r"|\b(?:[A-Z][a-z]+){2,}(?=['\"]?[,.:!)]|\s+(?:never|always|has|is|can|approves|shares|answers|ready))"
            r"|\b(?:[Yy]ou\s+are|[Yy]ou're)\s+(?:now\s+)?[A-Z][a-z]+(?=[,.!])"
        ),
        group=-3,
    ),
)  # fmt: skip
"""Rules matched against the text as written (persona names are capitalised; "dan" in lower case is a name)."""
