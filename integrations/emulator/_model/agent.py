"""The emulated model's behaviour in an agent loop: which declared tools to call (by relevance to
the user's words), with which arguments (schema-valid, lifted from the conversation where they
fit), when to answer in text, and when to call an output tool so that structured-output agents
finish. Deterministic: the same request gives the same turn.

The rules, in order, for a request with tools (`tool_choice` honoured exactly):
- `none` → text. A named tool → that tool (the route has already refused undeclared names).
- Before any tool result in this turn: every relevant tool whose required arguments the
  conversation can fill (one call per named entity when the user lists several, e.g. "Paris and
  Oslo", "Tokyo vs Seoul", "orders 1001 and 1002"); several calls only while `parallel_tool_calls`
  is not false. Relevance is decided by the user's nouns ("stock price", "population"); generic
  verbs ("look up", "find") count only when no tool matches a noun. A lone tool whose two or more
  required fields the message spells out (a name, a number...) is called. Nothing relevant: an
  output tool if one is declared, else text (or, with `required`, the best tool).
- Arguments: ids, tickers and codes are copied as written ("ORD-5521", "AAPL"); a place field
  takes a name after "in"/"from"/"to", a person field the other name.
- After tool results: relevant tools not yet called whose arguments the results now supply
  (a chain such as weather → unit conversion); then the output tool, if declared; else a text
  answer quoting every tool output.

Output tools are the ones frameworks declare for structured output: PydanticAI `final_result*`,
LangChain's `ToolStrategy` and `with_structured_output` tools and CrewAI/LiteLLM schema tools,
which are all named after the output class (`Invoice`, `WeatherReport`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations.emulator._model.schema_instance import ConversationValues, instance_for_schema
from kluster_agents.integrations.emulator._model.text import STOPWORDS, keywords, last_text

_OUTPUT_TOOL = re.compile(r"^(final_result\w*|response_format_\w+|[A-Z][A-Za-z0-9]*)$")
_SPLIT_NAME = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_TOKEN = re.compile(r"[A-Za-z]+")
_GENERIC = frozenset(
    [
        "get",
        "set",
        "fetch",
        "return",
        "returns",
        "tool",
        "function",
        "given",
        "value",
        "values",
        "input",
        "output",
        "result",
        "results",
        "use",
        "using",
        "call",
        "the",
        "for",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "any",
        "some",
        "data",
        "info",
        "information",
        "string",
        "number",
        "integer",
        "object",
        "list",
        "current",
    ]
)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "weather": ("temperature", "forecast", "climate"),
    "temperature": ("weather", "forecast"),
    "forecast": ("weather",),
    "hot": ("weather", "temperature"),
    "warm": ("weather", "temperature"),
    "sunny": ("weather",),
    "cold": ("weather", "temperature"),
    "rain": ("weather", "forecast"),
    "snow": ("weather", "forecast"),
    "wind": ("weather",),
    "windy": ("weather",),
    "umbrella": ("weather", "forecast"),
    "coat": ("weather", "temperature"),
    "outside": ("weather",),
    "condition": ("weather",),
    "sunnier": ("weather",),
    "warmer": ("weather", "temperature"),
    "colder": ("weather", "temperature"),
    "people": ("population",),
    "laugh": ("joke", "funny"),
    "funny": ("joke",),
    "populou": ("population",),
    "inhabitant": ("population",),
    "live": ("population",),
    "share": ("stock", "price"),
    "quote": ("stock", "price"),
    "trad": ("stock", "price"),
    "track": ("order", "status"),
    "shipp": ("order", "status"),
    "calculate": ("calculator", "compute", "math", "arithmetic", "evaluate", "expression"),
    "compute": ("calculator", "calculate", "math", "arithmetic", "evaluate"),
    "convert": ("conversion", "converter", "to"),
    "search": ("lookup", "find", "query"),
    "look": ("lookup", "search"),
    "find": ("search", "lookup"),
    "stock": ("inventory",),
    "inventory": ("stock",),
    "time": ("clock", "date"),
    "verify": ("check", "hallucination", "reliability"),
    "fact": ("facts", "lookup"),
    "true": ("verify", "check", "fact"),
    "claim": ("verify", "check", "fact"),
    "facts": ("fact", "lookup"),
}
_VERBS = frozenset({"look", "lookup", "find", "search", "check", "get", "fetch", "query", "tell", "give"})
_IDENTIFIER_PARAM = re.compile(r"(^|_)(id|ids|ticker|symbol|code|number|sku|isbn)$|^(ticker|symbol)", re.I)
_IDENTIFIER = re.compile(r"(?<![\w#-])#?((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]*[A-Z0-9]|\d+|[A-Z]{2,5})(?![\w-])")
_PLACE_PARAM = re.compile(r"city|town|location|place|country|region", re.I)
_PERSON_PARAM = re.compile(r"^(name|full_name|person|first_name|author|customer)$", re.I)
_ARITHMETIC = ("calculator", "calculate", "compute", "math", "arithmetic", "evaluate", "expression", "multiply")
_NUMBER = re.compile(r"(?<![\w.#-])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|(?:(?<=\s)|^)'([^'\n]{1,200})'(?=[\s.,;:!?)]|$)")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:[ -][A-Z][a-zA-Z]+)*\b")
_SENTENCE_WORDS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "just",
        "say",
        "please",
        "compute",
        "calculate",
        "convert",
        "find",
        "get",
        "show",
        "list",
        "check",
        "look",
        "is",
        "do",
        "does",
        "in",
        "on",
        "at",
        "i",
        "we",
        "can",
        "could",
        "would",
        "should",
        "will",
        "what",
        "when",
        "where",
        "who",
        "why",
        "how",
        "tell",
        "give",
        "make",
        "write",
        "summarize",
        "summarise",
        "explain",
        "describe",
        "translate",
        "name",
        "classify",
        "extract",
        "answer",
        "use",
        "call",
        "return",
        "thanks",
        "thank",
        "ok",
        "okay",
        "yes",
        "no",
        "a",
        "an",
        "the",
        "my",
        "our",
        "if",
        "then",
        "also",
        "and",
        "but",
        "or",
        "so",
    ]
)
_WORD_OPS = (
    (re.compile(r"\bmultiplied\s+by\b|\btimes\b|×|(?<=\d)\s*x\s*(?=\d)", re.I), "*"),
    (re.compile(r"\bdivided\s+by\b|÷", re.I), "/"),
    (re.compile(r"\bplus\b|\badded\s+to\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\bto\s+the\s+power\s+of\b|\^", re.I), "**"),
)
_NUM = r"(-?\d+(?:\.\d+)?)"
_PHRASES = (
    (re.compile(rf"\b(?:multiply|product\s+of)\s+{_NUM}\s+(?:by|and|with)\s+{_NUM}", re.I), "{0}*{1}"),
    (re.compile(rf"\b(?:add|sum\s+of)\s+{_NUM}\s+(?:and|to|plus)\s+{_NUM}", re.I), "{0}+{1}"),
    (re.compile(rf"\bdivide\s+{_NUM}\s+by\s+{_NUM}", re.I), "{0}/{1}"),
    (re.compile(rf"\bsubtract\s+{_NUM}\s+from\s+{_NUM}", re.I), "{1}-{0}"),
    (re.compile(rf"\bdifference\s+between\s+{_NUM}\s+and\s+{_NUM}", re.I), "{0}-{1}"),
    (re.compile(rf"\b(?:increase|raise)\s+{_NUM}\s+by\s+{_NUM}\s*(?:%|percent)", re.I), "{0}*(1+{1}/100)"),
    (re.compile(rf"\b(?:decrease|reduce)\s+{_NUM}\s+by\s+{_NUM}\s*(?:%|percent)", re.I), "{0}*(1-{1}/100)"),
    (re.compile(rf"{_NUM}\s*(?:%|percent)\s+of\s+{_NUM}", re.I), "{1}*{0}/100"),
    (re.compile(rf"\bhalf\s+of\s+{_NUM}", re.I), "{0}/2"),
    (re.compile(rf"\b(?:double|twice)\s+{_NUM}", re.I), "{0}*2"),
    (re.compile(rf"{_NUM}\s+squared\b", re.I), "{0}**2"),
    (re.compile(rf"{_NUM}\s+cubed\b", re.I), "{0}**3"),
)
# "the sum of 8, 15 and 27", "sum up 5, 10 and 20": every listed number added
_SUM_LIST = re.compile(
    rf"\b(?:sum|total|add(?:\s+up)?)(?:\s+up|\s+of)?\s+({_NUM}(?:\s*(?:,|\band\b|\+)\s*{_NUM})+)", re.I
)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_EXPRESSION = re.compile(r"[\d(][\d\s.+\-*/()]*[\d)]")
_ALLOWED_AST = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)


@dataclass(frozen=True)
class Turn:
    """What the emulated model does in one turn: text, or tool calls as (name, arguments)."""

    text: str | None = None
    calls: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


# -- reading the conversation ----------------------------------------------------------------------
def arithmetic_expression(text: str) -> str | None:
    """A computable arithmetic expression the text asks for ("1337 multiplied by 42" → "1337*42")."""
    text = text.replace(",", "") if re.search(r"\d,\d{3}", text) else text
    if re.search(r"\b(plus|minus|times|divided|multiplied|sum|product|squared)\b", text, re.I):
        text = _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()], text)
    listed = _SUM_LIST.search(text)
    if listed:
        return "+".join(re.findall(_NUM, listed.group(1)))
    for pattern, template in _PHRASES:
        match = pattern.search(text)
        if match:
            return template.format(*match.groups())
    rewritten = text.replace(",", "") if re.search(r"\d,\d{3}", text) else text
    for pattern, symbol in _WORD_OPS:
        rewritten = pattern.sub(f" {symbol} ", rewritten)
    for candidate in _EXPRESSION.findall(rewritten):
        compact = re.sub(r"\s+", "", candidate)
        if re.search(r"[\d)]\s*(\*\*|[-+*/])\s*[\d(]", compact) and _computable(compact):
            return compact
    return None


def _computable(expression: str) -> bool:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return False
    return all(isinstance(node, _ALLOWED_AST) for node in ast.walk(tree))


def _numbers(text: str) -> list[float]:
    """Numbers in the text, without ids ("#42") and the parts of dates."""
    result: list[float] = []
    for match in _NUMBER.findall(_DATE.sub(" ", text)):
        value = float(match.replace(",", ""))
        result.append(int(value) if value.is_integer() else value)
    return result


def _names(text: str) -> list[str]:
    """Capitalised names, those inside a sentence first (a capitalised first word is often just the
    start of a sentence); labels ("Current Task:") and JSON strings are not names."""
    inside: dict[str, None] = {}
    starting: dict[str, None] = {}
    text = _without_json(text)
    for match in _NAME.finditer(text):
        words = match.group().split(" ")
        start, end = match.start(), match.end()
        if text[end : end + 1] == ":" or text[start - 1 : start] == '"' or text[end : end + 1] == '"':
            continue
        if match.group().isupper() and len(match.group()) > 1:
            continue  # emphasis ("MUST"), not a name
        at_sentence_start = start == 0 or re.search(r"[.!?:\n]\s*$", text[:start]) is not None
        while words and words[0].lower() in (STOPWORDS | _SENTENCE_WORDS):
            words = words[1:]
        if words:
            (starting if at_sentence_start and len(words) == len(match.group().split(" ")) else inside).setdefault(
                " ".join(words), None
            )
    return [*inside, *(n for n in starting if n not in inside)]


def _listed(names: Sequence[str], text: str) -> list[str]:
    """The longest run of names the text lists together ("Paris and Oslo", "Rome, Oslo or Lima")."""
    best: list[str] = []
    run: list[str] = []
    position = 0
    for name in names:
        found = text.find(name, position)
        if found == -1:
            continue
        between = text[position:found]
        if run and _joins(between):
            run.append(name)
        else:
            run = [name]
        position = found + len(name)
        if len(run) > len(best):
            best = list(run)
    return best if len(best) > 1 else []


_JOINER = re.compile(r"&|\b(and|or|vs|versus|as well as|also|then|plus|compared)\b", re.I)
_MAX_WORDS_BETWEEN = 6
_NEW_QUESTION = re.compile(r"[?.!]|\b(what|what's|how|which|where|when|who|is|are|does|do)\b", re.I)


def _joins(between: str) -> bool:
    """The text between two names lists them together: a comma, or a conjunction within a few words
    ("Paris and Oslo", "Paris and in Oslo", "Chicago and the weather in Boston", "Tokyo vs Seoul")."""
    if re.fullmatch(r"\s*[,;/&]\s*", between):  # "Paris, Oslo" (but not "Paris, in Fahrenheit")
        return True
    return (
        bool(_JOINER.search(between))
        and len(between.split()) <= _MAX_WORDS_BETWEEN
        and not _NEW_QUESTION.search(between)  # "Lima and what's the population of Peru": two questions
    )


def _without_json(text: str) -> str:
    """The text without embedded JSON objects (schemas frameworks paste into prompts)."""
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"\{[^{}]*\}", " ", text)
    return text


def _quoted(text: str) -> list[str]:
    return [next(g for g in groups if g) for groups in _QUOTED.findall(_without_json(text))]


def conversation_values(
    messages: Sequence[Mapping[str, Any]], *, tool_outputs_first: bool = False
) -> ConversationValues:
    """The values a model would lift from the conversation: the last user message, then (or first,
    for numbers after a tool ran) the tool outputs that followed it."""
    user = last_text(messages, "user")
    outputs = " ".join(content_text(m.get("content")) for m in tool_results(messages))
    numbers = _numbers(outputs) + _numbers(user) if tool_outputs_first else _numbers(user) + _numbers(outputs)
    both = f"{user}\n{outputs}"
    return ConversationValues(
        words=keywords(user) or keywords(outputs),
        names=_names(user) + [n for n in _names(outputs) if n not in _names(user)],
        numbers=numbers,
        quoted=_quoted(user),
        dates=_DATE.findall(both),
        expression=arithmetic_expression(user),
        listing=user,
    )


def _since_user(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return list(messages[index + 1 :])
    return list(messages)


def tool_results(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tool results since the last user message."""
    return [m for m in _since_user(messages) if m.get("role") == "tool"]


def _called_since_user(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    return {
        (call.get("function") or {}).get("name", "")
        for m in _since_user(messages)
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    }


def tool_result_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """A final text answer that quotes every tool output since the last user message."""
    names = {
        call.get("id"): (call.get("function") or {}).get("name", "tool")
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    }
    results = [
        f"`{names.get(m.get('tool_call_id'), 'tool')}` returned: {content_text(m.get('content'))}"
        for m in tool_results(messages)
    ]
    return "[emulated] The tool " + "; the tool ".join(results)


# -- tools -----------------------------------------------------------------------------------------
def tool_name(tool: Mapping[str, Any]) -> str:
    return str((tool.get("function") or {}).get("name", ""))


def _parameters(tool: Mapping[str, Any]) -> dict[str, Any]:
    params = (tool.get("function") or {}).get("parameters")
    return dict(params) if isinstance(params, Mapping) else {"type": "object", "properties": {}}


def is_output_tool(tool: Mapping[str, Any]) -> bool:
    """A tool a framework declares to receive the structured output (see module docstring)."""
    return bool(_OUTPUT_TOOL.match(tool_name(tool)))


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _tokens(text: str) -> set[str]:
    words = [w for part in _TOKEN.findall(text) for w in (_SPLIT_NAME.findall(part) or [part])]
    return {_stem(w) for w in words if w.lower() not in _GENERIC and len(w) > 1}


def _user_tokens(text: str, expression: str | None) -> set[str]:
    tokens = _tokens(" ".join(keywords(text)))
    for word in list(tokens):
        tokens.update(_stem(s) for s in _SYNONYMS.get(word, ()))
    if expression:
        tokens.update(_stem(w) for w in _ARITHMETIC)
    return tokens


def relevance(tool: Mapping[str, Any], user: set[str]) -> int:
    """How well a tool matches the user's words: its name counts most, then its description and
    parameter names."""
    function = tool.get("function") or {}
    params = _parameters(tool).get("properties") or {}
    name_score = 3 * len(user & _tokens(str(function.get("name", ""))))
    description_score = len(user & _tokens(str(function.get("description") or "")))
    param_text = " ".join(
        [*params, *(str(p.get("description", "")) for p in params.values() if isinstance(p, Mapping))]
    )
    return name_score + description_score + len(user & _tokens(param_text))


def _fillable(tool: Mapping[str, Any], values: ConversationValues) -> bool:
    """The conversation supplies every required argument a model would not make up (numbers,
    names, expressions)."""
    params = _parameters(tool)
    props = params.get("properties") or {}
    for name in params.get("required") or ():
        schema = props.get(name) or {}
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind in ("number", "integer") and not values.numbers:
            return False
        if re.search(r"expression|formula", name, re.I) and not values.expression:
            return False
    return True


def _supplied(tool: Mapping[str, Any], values: ConversationValues) -> bool:
    """The message supplies every one of a tool's (two or more) required fields with a value of
    its kind: a name per string field, a number per numeric field ("Alice is 31 and lives in Berlin"
    for a person's name, age and city)."""
    params = _parameters(tool)
    props = params.get("properties") or {}
    required = list(params.get("required") or [])
    kinds = [(props.get(name) or {}).get("type", "string") for name in required]
    strings, numbers = kinds.count("string"), kinds.count("number") + kinds.count("integer")
    return (
        len(required) >= 2
        and strings + numbers == len(required)
        and strings <= len(values.names)
        and numbers <= len(values.numbers)
    )


def _entity_param(tool: Mapping[str, Any]) -> str | None:
    """The one required name-like string parameter of a tool (city, location...), if that is all it needs."""
    params = _parameters(tool)
    props = params.get("properties") or {}
    required = list(params.get("required") or [])
    if len(required) != 1:
        return None
    schema = props.get(required[0]) or {}
    plain_string = isinstance(schema, Mapping) and schema.get("type", "string") == "string" and "enum" not in schema
    if plain_string and re.search(
        r"city|town|location|place|country|region|name|person|company|product|topic", required[0], re.I
    ):
        return str(required[0])
    return None


def _arguments(tool: Mapping[str, Any], values: ConversationValues) -> dict[str, Any]:
    values = ConversationValues(**{**values.__dict__})  # each call consumes its own copy
    result = instance_for_schema(_parameters(tool), values=values)
    if not isinstance(result, dict):
        return {}
    props = _parameters(tool).get("properties") or {}
    identifiers = _identifiers(values.listing)
    places, people = _places_and_people(values.names, values.listing)
    for name, schema in props.items():
        string = isinstance(schema, Mapping) and schema.get("type", "string") == "string" and "enum" not in schema
        if not string or name not in result:
            continue
        if identifiers and _IDENTIFIER_PARAM.search(name):
            result[name] = identifiers.pop(0)  # an id, ticker or code is copied as written, not made up
        elif places and _PLACE_PARAM.search(name):
            result[name] = places[0]
        elif people and _PERSON_PARAM.search(name) and len(places) + len(people) > 1:
            result[name] = people[0]
    return result


def _places_and_people(names: Sequence[str], text: str) -> tuple[list[str], list[str]]:
    """Names after a place preposition ("in Berlin", "from Toronto") are places; the others, when a
    text has both, are what a person field takes ("Alice is 31 and lives in Berlin")."""
    places = [n for n in names if re.search(rf"\b(in|from|to|at|near|of)\s+{re.escape(n)}\b", text)]
    return places, [n for n in names if n not in places]


def _identifier_param(tool: Mapping[str, Any]) -> str | None:
    """The one required parameter of a tool, when it is an identifier (order id, ticker...)."""
    required = list(_parameters(tool).get("required") or [])
    return required[0] if len(required) == 1 and _IDENTIFIER_PARAM.search(required[0]) else None


def _identifiers(text: str) -> list[str]:
    """Tokens written like identifiers: with a digit ("A1234", "ORD-5521", "998877") or in capitals
    ("AAPL"); numbers that are part of an arithmetic expression or a date are not ids."""
    return [m for m in _IDENTIFIER.findall(_DATE.sub(" ", text)) if m not in ("I", "A")]


# -- the turn --------------------------------------------------------------------------------------
def agent_turn(request: Mapping[str, Any]) -> Turn | None:
    """The emulated model's turn for a request that declares tools (None when it declares none, or
    `tool_choice` is "none" and there is nothing special to do: the caller answers in text)."""
    tools = [t for t in request.get("tools") or [] if isinstance(t, Mapping) and tool_name(t)]
    choice = request.get("tool_choice")
    if not tools or choice == "none":
        return None
    messages: list[Mapping[str, Any]] = [m for m in request.get("messages") or [] if isinstance(m, Mapping)]
    parallel = request.get("parallel_tool_calls") is not False
    results = tool_results(messages)
    values = conversation_values(messages, tool_outputs_first=bool(results))
    if isinstance(choice, Mapping):
        wanted = str((choice.get("function") or {}).get("name"))
        tool = next(t for t in tools if tool_name(t) == wanted)
        return Turn(calls=((wanted, _arguments(tool, values)),))
    output_tools = [t for t in tools if is_output_tool(t)]
    plain = [t for t in tools if not is_output_tool(t)] or ([] if output_tools else tools)
    user = _user_tokens(last_text(messages, "user"), values.expression)
    content = user - _VERBS  # "look up", "find": every lookup tool matches them; the nouns decide
    if any(relevance(t, content) for t in plain):
        user = content
    scored = sorted(((relevance(t, user), i, t) for i, t in enumerate(plain)), key=lambda x: (-x[0], x[1]))
    called = _called_since_user(messages)
    relevant = [t for score, _, t in scored if score >= 1 and tool_name(t) not in called]
    if results:  # chain only to tools that needed what the results supplied (°C → °F), never re-check
        before = conversation_values([m for m in messages if m.get("role") != "tool"])
        relevant = [t for t in relevant if not _fillable(t, before)]
    calls = _relevant_calls(relevant, values, first_turn=not results, parallel=parallel)
    if not calls and not results and len(plain) == 1 and _supplied(plain[0], values):
        calls = [(tool_name(plain[0]), _arguments(plain[0], values))]  # a record the message spells out
    if calls:
        return Turn(calls=tuple(calls))
    if output_tools:
        return Turn(calls=((tool_name(output_tools[0]), _arguments(output_tools[0], values)),))
    if choice == "required" or (isinstance(choice, str) and choice == "any"):
        best = next((t for _, _, t in scored), tools[0])
        return Turn(calls=((tool_name(best), _arguments(best, values)),))
    return None


def _relevant_calls(
    relevant: list[Mapping[str, Any]], values: ConversationValues, *, first_turn: bool, parallel: bool
) -> list[tuple[str, dict[str, Any]]]:
    fillable = [t for t in relevant if _fillable(t, values)]
    if not fillable and first_turn and relevant:
        fillable = relevant[:1]  # a model calls the best tool anyway and makes up what is missing
    calls: list[tuple[str, dict[str, Any]]] = []
    for tool in fillable:
        entity = _entity_param(tool)
        names = _listed(sorted(values.names, key=values.listing.find), values.listing) if entity else []
        if entity is None and (entity := _identifier_param(tool)) is not None:
            names = _listed(_identifiers(values.listing), values.listing)
        if entity and len(names) > 1 and parallel:
            for name in names:
                calls.append((tool_name(tool), {**_arguments(tool, values), entity: name}))
        else:
            calls.append((tool_name(tool), _arguments(tool, values)))
    return calls if parallel else calls[:1]
