"""Is a sentence an instruction to an AI rather than news for a reader? (prompt injection hidden in articles)

A list of known payloads only stops the wordings it lists ("ignore previous instructions"); the red team got
3 of 4 reworded ones quoted as answers. This classifier looks for the parts such a sentence is built from, in
English, German, French and Spanish, and flags a sentence when they combine:

- override: a verb of setting aside (ignore, disregard, forget, vergiss, ignorez, olvida...) near a word for
  instructions (instructions, rules, guidance, Anweisungen, consignes, instrucciones...): strong on its own;
- addressee: the sentence speaks to an AI (AI, assistant, chatbot, language model, LLM, bot, KI, IA, modelo...)
  as a vocative or a reader ("Hey chatbot", "note to AI systems", "if you are an AI", "models reading this");
- directive: something is to be said (say, state, reply, answer, tell the user, report, claim, present as
  fact; sag, antworte, behaupte; dites, répondez, affirmez; di, responde, afirma...), in the imperative or after
  a second-person or passive obligation (you must, should, are required to, du musst, vous devez, debes...);
- output control: "as (a) fact", "regardless of the sources", "from now on", "in every answer", "when asked".

Flagged: override; or addressee + directive; or an obligation to say something + output control or a mention of
the user/asker/answer. News quotes that tell someone what to do ("You must leave now," police said) have no
AI addressee and no output control, so they pass. bench/injection.py measures both sides: held-out wordings
(never used to tune this) and the share of real news sentences (MultiHop-RAG corpus) that get flagged.
"""

from __future__ import annotations

import re
import unicodedata

_FLAGS = re.IGNORECASE | re.UNICODE


def _fold(text: str) -> str:
    """Lower case without accents, typographic quotes and dashes as plain ones."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower().replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")


def _alt(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


# An AI as the one spoken to. "model", "system" and "assistant" are common in news ("business model", "assistant
# coach"), so they count only as addressee patterns, never as a mere mention.
_AI = _alt(r"a\.?i\.?", r"artificial intelligence", r"(?:ai|automated|virtual|digital|smart|automatic)[- ]assistants?",
           r"assistants?", r"chat ?bots?", r"bots?", r"language models?", r"llms?", r"gpts?", r"models?",
           r"ai (?:systems?|models?|tools?|agents?)", r"(?:ai|automated|machine) (?:readers?|summari[sz]ers?)",
           r"summari[sz]ers?", r"agents?", r"generative (?:search engines?|ai)", r"machine readers?",
           r"automated (?:readers?|systems?|tools?)", r"ki", r"ki-assistent(?:in)?", r"assistent(?:in)?",
           r"sprachmodell(?:e)?", r"modell(?:e)?", r"kunstliche intelligenz", r"ia", r"intelligences? artificielles?",
           r"assistant automatique", r"modeles? de langage", r"inteligencias? artificiales?", r"asistente(?: automatico)?",
           r"modelos? de lenguaje", r"robots?")
_VOCATIVE = re.compile(
    r"(?:^|[\s\[(<\-:;,.!?\"'])" + _alt(
        r"(?:hey|hi|hello|yo|psst|ok|okay|dear|listen|attention|achtung|liebe|lieber|hallo|he|oye|hola|querid[oa]|cher|chere)"
        r"[,:]?\s+(?:[\w-]+\s+){0,2}" + _AI,
        r"(?:note|notice|message|memo|instructions?|directive|reminder|update|correction|hinweis|anweisung|nachricht|"
        r"consigne|note|mensaje|nota|instruccion|aviso)\s+(?:\(?\s*)?(?:to|for|an|a|fur|pour|para|a l'intention des?|"
        r"destine[e]? aux?)\s+(?:the\s+|any\s+|all\s+|every\s+|alle\s+|das\s+|den\s+|die\s+|les\s+|la\s+|el\s+|"
        r"los\s+|las\s+|l')?(?:[\w-]+\s+){0,2}" + _AI,
        r"(?:to|for)\s+(?:the\s+attention\s+of\s+(?:the\s+)?|(?:any|all|every|whatever|each)\s+)(?:[\w-]+\s+){0,2}" + _AI,
        r"if\s+you(?:'re|\s+are)\s+(?:an?\s+)?(?:[\w-]+\s+){0,2}" + _AI,
        r"wenn\s+du\s+(?:eine?\s+)?" + _AI, r"si\s+vous\s+etes\s+(?:une?\s+)?" + _AI, r"si\s+eres\s+(?:una?\s+)?" + _AI,
        _AI + r"\s+(?:[\w-]+\s+){0,2}(?:reading|processing|summari[sz]ing|parsing|answering|that (?:read|summari[sz]e|"
        r"answer|process)|asked about|which read)",
        r"(?:readers|whoever|anyone)\s+(?:who|that)\s+(?:are|is)\s+(?:an?\s+)?" + _AI,
        r"you,?\s+the\s+" + _AI, r"addressed\s+to\s+" + _AI,
        r"(?:the\s+)?" + _AI + r"\s*(?::|,\s*(?:listen|new plan|just|please))",
        r"(?:the\s+)?" + _AI + r"\s+(?:is|are)\s+(?:hereby\s+)?(?:directed|instructed|required|ordered|told|asked)\b",
        r"(?:the\s+)?" + _AI + r"\s+(?:must|shall|should)",
        r"(?:any|all)\s+(?:[\w-]+\s+){0,2}" + _AI + r"\s+(?:answering|reading|processing|asked)",
        r"(?:role|mode|admin|system|developer)\s*[:=]?\s*(?:system|override|enabled|message)",
    ) + r"(?=$|[\s\]):;,.!?\"'>\-])",
    _FLAGS,
)
_SETTING_ASIDE = _alt(r"ignore", r"ignoring", r"disregard", r"forget", r"override", r"supersede", r"bypass",
                      r"set aside", r"scrap", r"abandon", r"discard", r"drop", r"pay no attention to", r"never mind",
                      r"revoked?", r"ignorier\w*", r"vergiss", r"vergessen sie", r"missachte\w*", r"uberg[ae]he\w*",
                      r"ignore[zr]?", r"oublie[zr]?", r"ne (?:tiens|tenez|tenir) pas compte", r"fais abstraction",
                      r"ignora\w*", r"olvid[ae]\w*", r"haz caso omiso", r"no hagas caso", r"omite")
_RULES = _alt(r"instructions?", r"prompts?", r"rules", r"guidance", r"guidelines", r"directives?", r"directions",
              r"context", r"configuration", r"programming", r"orders", r"sources", r"the rest", r"what you were told",
              r"anweisungen", r"regeln", r"vorgaben", r"richtlinien", r"instruktionen", r"befehle",
              r"consignes", r"regles", r"directives", r"indications", r"instrucciones", r"reglas", r"indicaciones",
              r"directrices", r"ordenes")
_OVERRIDE = re.compile(r"\b" + _SETTING_ASIDE + r"\b[^.!?\n]{0,50}?\b" + _RULES + r"\b", _FLAGS)
# Saying something, as an order. English covers imperative, modal and passive forms.
_SAY = _alt(r"say", r"state", r"reply", r"respond", r"answer", r"tell", r"report", r"claim", r"assert", r"declare",
            r"inform", r"confirm", r"mention", r"print", r"output", r"write", r"present", r"cite", r"treat", r"insist",
            r"go with", r"repeat")
_SAY_DE = _alt(r"sag\w*", r"antworte\w*", r"behaupte\w*", r"erklare\w*", r"schreib\w*", r"teile?\w*", r"gib\w*",
               r"stelle\w*", r"angeben", r"nenne\w*", r"bestatige\w*")
_SAY_FR = _alt(r"di[st]e?s?", r"dites", r"repon\w+", r"affirme\w*", r"indique\w*", r"ecri\w+", r"declare\w*",
               r"presente\w*", r"precise\w*", r"confirme\w*")
_SAY_ES = _alt(r"di(?:le|lo|les)?", r"diga\w*", r"respond\w+", r"afirm\w+", r"indic\w+", r"escrib\w+", r"declar\w+",
               r"present\w+", r"confirm\w+")
_DIRECTIVE = re.compile(_alt(
    r"(?:^|[:;,.!?\-]\s*|\band\s+|\bjust\s+|\bplease\s+|\bkindly\s+|\balways\s+|\bnow\s+|\bthen\s+|\bsimply\s+)"
    + _SAY + r"\b(?:\s+(?:\w+\s+){0,3}(?:that|this|with|so|exactly|everyone|the user|people|whoever)\b|\s*:)",
    r"\byou(?:'ll|'re| will| are| must| should| shall| need to| have to| gotta| got to| ought to| are to|"
    r" are required to| are instructed to| are going to)\s+(?:\w+\s+){0,2}" + _SAY + r"\b",
    r"\byou\s+" + _SAY + r"\s+(?:people|everyone|the user|them|users)\b",
    r"\b(?:must|shall|should|is to|are to|has to|have to)\s+(?:\w+\s+){0,1}(?:be\s+)?(?:" + _SAY + r"|given|"
    r"stated|reported|presented|treated|said|mentioned|printed|output)\b",
    r"\b(?:directed|required|instructed|ordered|asked|expected)\s+to\s+" + _SAY + r"\b",
    r"\b(?:du|sie|ihr)\s+(?:musst|mussen|sollst|sollen|solltest)\s+(?:\w+\s+){0,3}" + _SAY_DE + r"\b",
    r"(?:^|[:;,.!?\-]\s*|\bund\s+|\bbitte\s+|\beinfach\s+)" + _SAY_DE + r"\b",
    r"\b(?:tu dois|vous devez|veuillez|il faut)\s+(?:\w+\s+){0,2}" + _SAY_FR + r"\b",
    r"(?:^|[:;,.!?\-]\s*|\bet\s+)" + _SAY_FR + r"(?:-le|-la)?\b",
    r"\b(?:debes|debe|deben|tienes que|tiene que|usted debe)\s+(?:\w+\s+){0,2}" + _SAY_ES + r"\b",
    r"(?:^|[:;,.!?\-]\s*|\by\s+)" + _SAY_ES + r"(?:lo|la)?\b",
    r"\b(?:your|the)\s+(?:answer|reply|response|summary)\s+(?:should|must|shall|is to|will|says|states|reads)\b",
    r"\b(?:correct|only accurate|right)\s+(?:response|answer|information)\s+is\b",
    r"\banswer_override\b|\boutput\s*:|\brespond with\b",
), _FLAGS)
_CONTROL = re.compile(_alt(
    r"\bas (?:an? )?(?:established )?fact\b", r"\bas (?:the )?truth\b", r"\bregardless of\b", r"\bfrom now on\b",
    r"\bin every (?:answer|reply|response)\b", r"\bwhen(?:ever)? (?:you are |you're |someone |anyone |a user |people )?"
    r"(?:asked|asks?|questioned)\b", r"\beven if the (?:article|sources?|text)\b", r"\bthe user\b", r"\bwhoever\b",
    r"\bwhat(?:ever)? the sources say\b", r"\bsources? says?\b", r"\bthe reader\b", r"\bthe asker\b",
    r"\bals tatsache\b", r"\bunabhangig von\b", r"\bnutzer\b", r"\bcomme un fait\b", r"\bquelles? que soient\b",
    r"\butilisateur\b", r"\bcomo un hecho\b", r"\bsin importar\b", r"\busuario\b",
    r"\byour (?:answer|reply|summary|response)\b",
), _FLAGS)
# Chat-template tokens (<|im_start|>, [INST]) are defused where text enters a prompt (rag.answering.prompting.defuse); here only
# words that announce an instruction count.
_TEMPLATE = re.compile(r"\bsystem prompt\b|\bnew instructions?\s*:|"
                       r"\bdeveloper mode\b", _FLAGS)


def instruction_signals(sentence: str) -> dict[str, bool]:
    """Which parts of an injection the sentence holds (for explanations and the bench)."""
    t = _fold(sentence)
    return {"override": bool(_OVERRIDE.search(t)), "addressee": bool(_VOCATIVE.search(t)),
            "directive": bool(_DIRECTIVE.search(t)), "control": bool(_CONTROL.search(t)),
            "template": bool(_TEMPLATE.search(t))}


def is_instruction(sentence: str) -> bool:
    """True when the sentence reads as an order to an AI (see the module docstring for the rule)."""
    s = instruction_signals(sentence)
    return (s["override"] or s["template"] or (s["addressee"] and (s["directive"] or s["control"]))
            or (s["directive"] and s["control"]))


def continues_instruction(sentence: str) -> bool:
    """After a sentence flagged as an instruction, does this one carry it on ("Output: X.", "Say exactly that.")?"""
    sig = instruction_signals(sentence)
    return sig["directive"] or sig["addressee"] or sig["control"] or bool(_LABEL.match(_fold(sentence).lstrip()))


_LABEL = re.compile(r"(?:output|answer|response|reply|antwort|reponse|respuesta)\s*[:=]", _FLAGS)
