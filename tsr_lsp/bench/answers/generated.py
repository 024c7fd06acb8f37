"""Tasks the team wrote: extraction with exact fields, writing and chat with verifiable
instructions (IFEval-style), review sentiment and multiple-choice knowledge (calibration
only), and the memory scenarios (follow-ups that need an earlier session). Generated from
small word pools with a fixed seed (the knowledge questions are a fixed list), so every item
is reproducible and its answer is known by construction.

The pools are split in halves: calibration items are built from one half, report items
from the other, so the router can never learn a report item's topic from calibration.
Everything here was written for this project; `tests/unit/test_answers_suite.py` checks it
for 8-word-shingle overlap with the public sets in ../shared/data.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# ------------------------------------------------------------------ pools
def _pool(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _pool("""
    Anna Bruno Chiara Dmitri Elena Farid Greta Hiroshi Ines Jonas Kalinda Lars Mireille
    Nadia Oskar Priya Quentin Rosa Sven Tamsin Ugo Vera Wanjiru Xavier Yusuf Zofia
""")
SURNAMES = _pool("""
    Albrecht Brandt Castillo Dubois Eriksen Fontaine Gallo Horvat Ivanova Jansen
    Kowalski Lindqvist Moreau Novak Okafor Petrov
""")
CITIES = _pool("""
    Lyon Porto Graz Tampere Bergen Leipzig Gdansk Bologna Ghent Aarhus Cork Brno Utrecht
    Seville Turku Basel
""")
MONTHS = _pool("""
    January February March April May June July August September October November
    December
""")
PRODUCTS = [
    "standing desk",
    "espresso grinder",
    "trail backpack",
    "label printer",
    "road bike helmet",
    "noise-cancelling headset",
    "cast-iron skillet",
    "monitor arm",
    "rain jacket",
    "mechanical keyboard",
    "camping stove",
    "desk lamp",
]

# writing topics: first half calibration, second half report
WRITING_TOPICS = [
    "why a small town library matters",
    "learning to cook at thirty",
    "the joy of night trains",
    "keeping a garden on a balcony",
    "what makes a good team meeting",
    "repairing old bicycles",
    "the first snowfall of the year",
    "switching from coffee to tea",
    "a weekend without a phone",
    "why maps still matter",
    "volunteering at a food bank",
    "building a birdhouse with a child",
    "the smell of a bakery at dawn",
    "learning a language from songs",
    "an ode to public parks",
    "what a lighthouse keeper might think",
    "moving to a new city alone",
    "the art of slow walks",
    "why board games bring people together",
    "a rainy Sunday in a museum",
    "the sound of a harbour at night",
    "keeping bees on a rooftop",
    "a letter to my future self",
    "what a good neighbour does",
    "the last day of summer camp",
    "restoring an old wooden boat",
]
WRITING_FORMS = ["a short poem", "a short blog post", "a short story", "a short essay", "a note"]
ENDINGS = ["Thanks for reading.", "That is all for today.", "See you next time."]
KEYWORD_PAIRS = [
    ("window", "green"),
    ("river", "quiet"),
    ("morning", "bread"),
    ("friend", "bridge"),
    ("lamp", "winter"),
    ("letter", "salt"),
    ("garden", "silver"),
    ("clock", "harbour"),
    ("candle", "road"),
    ("cloud", "orange"),
    ("stone", "music"),
    ("kite", "copper"),
]

# chat: (situation, what to do) with the person's name as the verifiable part
CHAT_SITUATIONS = [
    ("my friend {name} just passed a driving test", "Congratulate {obj}"),
    ("my colleague {name} is leaving the company on Friday", "Say goodbye to {obj}"),
    ("my neighbour {name} lent me a ladder", "Thank {obj}"),
    ("my sister {name} starts a new job tomorrow", "Wish {obj} luck"),
    ("my friend {name} is feeling down after a bad week", "Cheer {obj} up"),
    ("my classmate {name} helped me with homework", "Thank {obj}"),
    ("my cousin {name} just had a birthday", "Wish {obj} a happy birthday"),
    ("my teammate {name} scored the winning goal", "Congratulate {obj}"),
    ("my flatmate {name} cooked dinner for everyone", "Thank {obj}"),
    ("my friend {name} is visiting from abroad", "Welcome {obj}"),
    ("my mentor {name} is retiring", "Say farewell to {obj}"),
    ("my friend {name} finished a marathon", "Congratulate {obj}"),
    ("my colleague {name} fixed the printer", "Thank {obj}"),
    ("my uncle {name} is recovering from a cold", "Wish {obj} a quick recovery"),
    ("my friend {name} adopted a puppy", "Say something nice to {obj} about it"),
    ("my old teacher {name} wrote me a letter", "Reply warmly to {obj}"),
    ("my friend {name} is nervous about an exam", "Encourage {obj}"),
    ("my boss {name} approved my holiday", "Thank {obj}"),
    ("my friend {name} moved into a new flat", "Congratulate {obj}"),
    ("my neighbour {name} watered my plants", "Thank {obj}"),
    ("my friend {name} is learning to play the violin", "Encourage {obj}"),
    ("my colleague {name} got engaged", "Congratulate {obj}"),
    ("my friend {name} sent me a postcard", "Thank {obj}"),
    ("my brother {name} is travelling tomorrow", "Wish {obj} a safe trip"),
    ("my friend {name} baked me a cake", "Thank {obj}"),
    ("my teammate {name} is joining us today", "Welcome {obj}"),
]

# memory scenarios: an earlier request that fixes a name, then a follow-up that needs it
MEMORY_SCENARIOS = [
    (
        "Write a Python function {ident}(path) that parses a CSV file into a list of dicts.",
        "Continue the CSV parser from before: add a delimiter option.",
    ),
    (
        "Write a Python class {ident} that caches the results of slow lookups in a dict.",
        "Add a method to the cache class we wrote earlier that empties the cache.",
    ),
    (
        "Write a Python function {ident}(text) that counts the words in a string.",
        "Extend the word counting function from earlier so it ignores case.",
    ),
    (
        "Write a Python function {ident}(url) that downloads a web page with urllib.",
        "Add a timeout argument to the page download function we wrote before.",
    ),
    (
        "Write a Python function {ident}(items) that removes duplicates from a list.",
        "Change the duplicate removal function from earlier so it keeps the original order.",
    ),
    (
        "Write a Python function {ident}(celsius) that converts Celsius to Fahrenheit.",
        "Add input validation to the temperature conversion function we wrote.",
    ),
    (
        "Write a Python class {ident} that stores a to-do list with add and remove methods.",
        "Add a method to the to-do list class from before that marks an item as done.",
    ),
    (
        "Write a Python function {ident}(n) that returns the first n Fibonacci numbers.",
        "Make the Fibonacci function we wrote earlier return a generator instead.",
    ),
    (
        "Write a Python function {ident}(path) that reads a JSON config file into a dict.",
        "Continue the JSON config loader: return defaults when the file is missing.",
    ),
    (
        "Write a Python function {ident}(password) that checks that a password is strong.",
        "Extend the password checker from earlier so it also requires a digit.",
    ),
    (
        "Write a Python function {ident}(numbers) that returns the median of a list.",
        "Make the median function from before handle an empty list.",
    ),
    (
        "Write a Python class {ident} for a bank account with deposit and withdraw methods.",
        "Add an overdraft limit to the bank account class we wrote earlier.",
    ),
    (
        "Write a Python function {ident}(s) that checks whether a string is a palindrome.",
        "Extend the palindrome checker from before so it ignores spaces and punctuation.",
    ),
    (
        "Write a Python function {ident}(path) that counts the lines in a text file.",
        "Continue the line counting function: skip blank lines.",
    ),
    (
        "Write a Python function {ident}(a, b) that returns the greatest common divisor.",
        "Add a docstring and type hints to the gcd function we wrote earlier.",
    ),
    (
        "Write a Python class {ident} that keeps a running average of numbers.",
        "Add a reset method to the running average class from before.",
    ),
    (
        "Write a Python function {ident}(text) that converts snake_case to camelCase.",
        "Extend the case conversion function we wrote so it also handles kebab-case.",
    ),
    (
        "Write a Python function {ident}(items, size) that splits a list into chunks.",
        "Make the chunking function from earlier return a generator.",
    ),
    (
        "Write a Python function {ident}(seconds) that formats a duration as H:MM:SS.",
        "Continue the duration formatter: show days when the duration is over 24 hours.",
    ),
    (
        "Write a Python function {ident}(email) that validates an email address with a regex.",
        "Change the email validation function from before so it also rejects spaces.",
    ),
]
# identifiers the earlier request fixes: unguessable, so only memory can supply them
IDENT_ADJECTIVES = _pool("""
    amber brisk cobalt dusty ember fable gilded hollow ivory jade keen lunar
    mossy nimble opal pewter quartz russet sable tawny umber velvet willow zinc
""")
IDENT_NOUNS = _pool("""
    falcon badger heron otter lynx marten plover raven stoat tern wren vole
""")


def _half(pool: list[Any], split: str) -> list[Any]:
    """The calibration half or the report half of a pool (disjoint by construction)."""
    mid = len(pool) // 2
    return pool[:mid] if split == "calibration" else pool[mid:]


def _rng(kind: str, split: str) -> random.Random:
    return random.Random(f"tsr-answers:{kind}:{split}")


# ------------------------------------------------------------------ extraction
def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2019, 2026)}"


def extraction_items(split: str, n: int) -> list[dict[str, Any]]:
    """Short messages with exact fields to pull out as JSON."""
    rng = _rng("extraction", split)
    firsts = _half(FIRST_NAMES, split)
    out = []
    for i in range(n):
        name = f"{rng.choice(firsts)} {rng.choice(SURNAMES)}"
        city = rng.choice(CITIES)
        date = _date(rng)
        order = f"{rng.choice('KLMNPR')}{rng.randint(10000, 99999)}"
        amount = rng.randint(12, 950)
        product = rng.choice(PRODUCTS)
        shape = i % 4
        if shape == 0:
            text = (
                f"Hello, this is {name}. I ordered a {product} (order {order}) and it should "
                f"be delivered to my address in {city} on {date}. The total was {amount} euros."
            )
            fields = {"name": name, "order_id": order, "city": city, "amount": amount}
        elif shape == 1:
            text = (
                f"Booking confirmed for {name}: one room in {city}, arriving {date}. "
                f"Reference {order}. Price for the stay: {amount} EUR, paid by card."
            )
            fields = {"name": name, "city": city, "date": date, "reference": order}
        elif shape == 2:
            text = (
                f"Invoice {order} - customer: {name}, {city}. Item: {product}. "
                f"Amount due: {amount} EUR by {date}."
            )
            fields = {"invoice": order, "customer": name, "item": product, "amount": amount}
        else:
            text = (
                f"Note from the front desk: {name} called about the {product} repair. "
                f"Ticket {order}. Please call back before {date}; the quote was {amount} euros."
            )
            fields = {"caller": name, "ticket": order, "product": product, "deadline": date}
        keys = ", ".join(f'"{k}"' for k in fields)
        prompt = (
            f"Extract these fields from the text below: {keys}. Reply with only a JSON object "
            f"with exactly those keys (numbers as numbers).\n\nText: {text}"
        )
        out.append({"id": f"extract-{split[:3]}-{i:02d}", "prompt": prompt, "fields": fields})
    return out


# ------------------------------------------------------------------ analysis
# review sentences by polarity: first half calibration, second half report (the report
# split's analysis is Enterprise PII today, so only calibration uses these)
PRAISE = [
    "It works exactly as the description promised",
    "It arrived two days early and was packed with care",
    "I would happily order the same one again",
    "It feels sturdy and took five minutes to set up",
    "For the price it is a real bargain",
    "Their support team sorted out my question within a day",
    "Everyone at home has been using it since it came",
    "It is quieter than the one it replaced",
]
COMPLAINTS = [
    "It stopped working after barely a week",
    "The box came late and the surface was scratched",
    "I sent it back and I am still waiting for my money",
    "It wobbles and two screws were missing",
    "For the price I expected far better",
    "Nobody from support has answered my three emails",
    "The manual is useless and the app keeps crashing",
    "It is louder than the cheap one it replaced",
]
NEUTRAL = [
    "I mostly use it in the evenings.",
    "It replaced an older model.",
    "My brother recommended the brand.",
    "I bought it in the spring sale.",
]


def analysis_items(split: str, n: int) -> list[dict[str, Any]]:
    """Short product reviews whose sentiment is plain (two sentences of one polarity and
    a neutral one): label positive or negative."""
    rng = _rng("analysis", split)
    praise, complaints = _half(PRAISE, split), _half(COMPLAINTS, split)
    out = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        a, b = rng.sample(praise if label == "positive" else complaints, 2)
        product = rng.choice(PRODUCTS)
        text = f"{a}. {rng.choice(NEUTRAL)} {b}."
        prompt = (
            f"Is the sentiment of this review of a {product} positive or negative? Answer "
            f"with one word.\n\nReview: {text}"
        )
        out.append({"id": f"analysis-{split[:3]}-{i:02d}", "prompt": prompt, "label": label})
    return out


# ------------------------------------------------------------------ knowledge
# Multiple-choice knowledge questions for the CALIBRATION split only: the report split's
# knowledge tasks are ARC (a public test set, multiple choice), and TriviaQA, the only other
# labelled knowledge set here, asks for free text, so the router had no evidence on
# multiple-choice knowledge at all (all three models score 0.00-0.12 on TriviaQA, and which
# one answered ARC was left to noise). Written for tsr-lsp: grade-school science and general
# facts, one per line of data/team_knowledge_mc.jsonl (question, answer, three wrong options).
KNOWLEDGE_MC_FILE = Path(__file__).resolve().parent / "data" / "team_knowledge_mc.jsonl"


@functools.cache
def knowledge_questions() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    with KNOWLEDGE_MC_FILE.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return tuple((r["question"], r["answer"], tuple(r["wrong"])) for r in rows)


def knowledge_items() -> list[dict[str, Any]]:
    """Multiple-choice knowledge questions (calibration only): options in a fixed order with
    the correct one at position ``i % 4``, so the gold letter cycles through A-D."""
    out = []
    for i, (question, right, wrong) in enumerate(knowledge_questions()):
        gold = i % 4
        choices = [*wrong[:gold], right, *wrong[gold:]]
        out.append(
            {"id": f"know-cal-{i:02d}", "question": question, "choices": choices, "gold": gold}
        )
    return out


# ------------------------------------------------------------------ writing
def _writing_checks(rng: random.Random, i: int) -> tuple[str, list[dict[str, Any]]]:
    """Two or three verifiable instructions and how the prompt states them."""
    a, b = rng.choice(KEYWORD_PAIRS)
    n_words = rng.choice([40, 50, 60, 80])
    n_bullets = rng.choice([3, 4, 5])
    ending = rng.choice(ENDINGS)
    menu: list[tuple[str, dict[str, Any]]] = [
        (f"Use at most {n_words} words.", {"type": "max_words", "value": n_words}),
        (f'Include the words "{a}" and "{b}".', {"type": "include", "value": [a, b]}),
        (
            f"Format it as exactly {n_bullets} bullet points, each line starting with '- '.",
            {"type": "bullets", "value": n_bullets},
        ),
        (
            "Give it a title wrapped in double angular brackets, like <<title>>.",
            {"type": "title", "value": True},
        ),
        (f'End with the exact sentence "{ending}"', {"type": "ends_with", "value": ending}),
        ("Write everything in lowercase letters only.", {"type": "lowercase", "value": True}),
        ("Do not use any commas.", {"type": "no_commas", "value": True}),
    ]
    first = menu[i % len(menu)]
    rest = [
        m
        for m in menu
        if m is not first and not (first[1]["type"] == "bullets" and m[1]["type"] == "ends_with")
    ]
    chosen = [first, *rng.sample(rest, 1 + (i % 2))]
    if any(c[1]["type"] == "bullets" for c in chosen):
        chosen = [c for c in chosen if c[1]["type"] != "ends_with"]
    return " ".join(c[0] for c in chosen), [c[1] for c in chosen]


def writing_items(split: str, n: int) -> list[dict[str, Any]]:
    rng = _rng("writing", split)
    topics = _half(WRITING_TOPICS, split)
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        form = rng.choice(WRITING_FORMS)
        said, checks = _writing_checks(rng, i)
        prompt = f"Write {form} about {topic}. {said}"
        out.append({"id": f"write-{split[:3]}-{i:02d}", "prompt": prompt, "checks": checks})
    return out


# ------------------------------------------------------------------ chat
def chat_items(split: str, n: int) -> list[dict[str, Any]]:
    situations = _half(CHAT_SITUATIONS, split)
    names = _half(FIRST_NAMES, split)
    out = []
    for i in range(n):
        situation, act = situations[i % len(situations)]
        name = names[(i * 5) % len(names)]
        style = i % 3
        checks: list[dict[str, Any]] = [{"type": "name", "value": name}]
        if style == 0:
            ask = "Reply in one sentence and address them by name."
            checks.append({"type": "max_sentences", "value": 1})
        elif style == 1:
            ask = "Use at most 30 words and address them by name."
            checks.append({"type": "max_words", "value": 30})
        else:
            ask = "Address them by name and end with a friendly question."
            checks.append({"type": "question", "value": True})
        said = situation.format(name=name)
        prompt = f"{said[0].upper()}{said[1:]}. {act.format(obj='them')}. {ask}"
        out.append({"id": f"chat-{split[:3]}-{i:02d}", "prompt": prompt, "checks": checks})
    return out


# ------------------------------------------------------------------ memory scenarios
@dataclass(frozen=True)
class FollowUp:
    """An earlier session's request that fixes a name, and a later follow-up that can only
    be answered well by remembering it (the answer must use the name)."""

    id: str
    earlier: str
    followup: str
    remembered: str  # the name the follow-up's answer must use


def memory_followups(split: str, n: int | None = None) -> list[FollowUp]:
    """Scenarios 1-10 calibrate, 11-20 report; identifiers from split halves of the
    word pools (snake_case for functions, CamelCase for classes)."""
    rng = _rng("memory", split)
    scenarios = _half(MEMORY_SCENARIOS, split)
    adjectives = _half(IDENT_ADJECTIVES, split)
    nouns = _half(IDENT_NOUNS, split)
    rng.shuffle(adjectives)
    out = []
    for i, (earlier, followup) in enumerate(scenarios[: n or len(scenarios)]):
        adj, noun = adjectives[i % len(adjectives)], nouns[i % len(nouns)]
        if "class {ident}" in earlier:
            ident = f"{adj.capitalize()}{noun.capitalize()}"
        else:
            ident = f"{adj}_{noun}_{rng.randint(2, 9)}"
        out.append(
            FollowUp(f"memory-{split[:3]}-{i:02d}", earlier.format(ident=ident), followup, ident)
        )
    return out
