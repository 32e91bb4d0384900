"""Text written for superb-mini: word lists, a small sentence grammar and per-task phrase sets.

Everything spoken in the corpus comes from here, so the vocabulary can be checked in one place
(the tests check every English word against the CMU Pronouncing Dictionary, because the PR task
turns LibriSpeech transcripts into phones with a CMU-derived lexicon). The words are common
English words on purpose: a G2P lexicon covers them, and espeak-ng pronounces them well.
"""

from __future__ import annotations

import numpy as np

# --- LibriSpeech-style read sentences: SUBJECT VERB OBJECT [TIME] [MANNER] ----------------------
SUBJECTS: tuple[str, ...] = (
    "THE OLD MAN",
    "A YOUNG WOMAN",
    "MY BROTHER",
    "THE LITTLE GIRL",
    "HER FATHER",
    "THE CAPTAIN",
    "OUR TEACHER",
    "THE FARMER",
    "HIS MOTHER",
    "THE DOCTOR",
    "A TALL SOLDIER",
    "THE KING",
    "THE QUEEN",
    "MY SISTER",
    "THE POOR BOY",
    "A STRANGER",
    "THE PRIEST",
    "HIS FRIEND",
)
VERBS: tuple[str, ...] = (
    "WALKED TO",
    "LOOKED AT",
    "CAME BACK FROM",
    "RAN ACROSS",
    "STOOD NEAR",
    "WAITED BY",
    "SAT BESIDE",
    "LEFT",
    "FOUND",
    "REMEMBERED",
    "PAINTED",
    "VISITED",
    "WATCHED",
    "CLEANED",
)
OBJECTS: tuple[str, ...] = (
    "THE RIVER",
    "THE GARDEN",
    "THE LITTLE HOUSE",
    "THE DARK FOREST",
    "THE OPEN WINDOW",
    "THE CHURCH",
    "THE GREEN HILL",
    "THE MARKET",
    "THE STONE BRIDGE",
    "THE SHIP",
    "THE VILLAGE",
    "THE OLD CASTLE",
    "THE KITCHEN DOOR",
    "THE NARROW ROAD",
    "THE QUIET STREET",
    "THE FIELD",
)
TIMES: tuple[str, ...] = (
    "",
    "",
    "IN THE MORNING",
    "AT NIGHT",
    "BEFORE DINNER",
    "AFTER THE STORM",
    "ON A COLD DAY",
    "LATE IN THE EVENING",
    "WHEN THE SUN ROSE",
    "IN THE SPRING",
    "THAT SUMMER",
)
MANNERS: tuple[str, ...] = (
    "",
    "",
    "",
    "AND SAID NOTHING",
    "WITH A HEAVY HEART",
    "WITHOUT A WORD",
    "FOR A LONG TIME",
    "AS THE BELLS RANG",
    "AND THEN WENT HOME",
    "WITH GREAT CARE",
    "AND SMILED",
)


def read_sentence(rng: np.random.Generator) -> str:
    """One upper-case sentence from the grammar (about 120,000 distinct sentences)."""
    parts = [
        SUBJECTS[rng.integers(len(SUBJECTS))],
        VERBS[rng.integers(len(VERBS))],
        OBJECTS[rng.integers(len(OBJECTS))],
        TIMES[rng.integers(len(TIMES))],
        MANNERS[rng.integers(len(MANNERS))],
    ]
    return " ".join(p for p in parts if p)


def distinct_read_sentences(rng: np.random.Generator, n: int, exclude: set[str] | None = None) -> list[str]:
    """``n`` different sentences, none in ``exclude`` (keeps ASR test text unseen in training)."""
    seen = set(exclude or ())
    out: list[str] = []
    while len(out) < n:
        sentence = read_sentence(rng)
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out


# --- Speech Commands v0.01 -------------------------------------------------------------------
KS_COMMANDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# The v0.01 auxiliary words (they become ``_unknown_``), in the order a size preset takes them.
KS_AUXILIARY: tuple[str, ...] = (
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
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
)

# --- QUESST 2014: query terms are long, distinctive words so that DTW search can find them ------
QBE_TERMS: tuple[str, ...] = (
    "ELEPHANT",
    "UMBRELLA",
    "TELEPHONE",
    "BUTTERFLY",
    "CHOCOLATE",
    "NEWSPAPER",
    "BICYCLE",
    "VOLCANO",
    "PINEAPPLE",
    "SUNFLOWER",
    "KANGAROO",
    "SATELLITE",
    "HOSPITAL",
    "BASKETBALL",
    "TELESCOPE",
    "TORNADO",
    "CALENDAR",
    "PENGUIN",
    "LIBRARY",
    "MEDICINE",
    "CROCODILE",
    "POTATO",
    "ORANGE JUICE",
    "POLICE OFFICER",
)
# Carrier phrases around a term inside a document: PREFIX <term> SUFFIX.
QBE_PREFIXES: tuple[str, ...] = (
    "THE OLD MAN SAW THE",
    "MY SISTER FOUND THE",
    "THE CHILDREN DREW THE",
    "HE CARRIED THE",
    "WE FORGOT THE",
    "SHE WANTED THE",
    "THE TEACHER SHOWED US THE",
    "THEY BOUGHT THE",
)
QBE_SUFFIXES: tuple[str, ...] = (
    "NEAR THE RIVER",
    "IN THE MORNING",
    "AT THE MARKET",
    "AFTER DINNER",
    "BY THE WINDOW",
    "ON THE TABLE",
    "IN THE GARDEN",
    "BEFORE THE STORM",
)
# Non-English documents and queries (espeak voices ms, id, vi), so the English filter matters.
QBE_FOREIGN: dict[str, dict[str, tuple[str, ...]]] = {
    "malay": {
        "voice": ("ms",),
        "sentences": (
            "saya pergi ke pasar pada waktu pagi",
            "rumah itu sangat besar dan cantik",
            "kami makan nasi bersama keluarga",
            "buku ini ada di atas meja",
        ),
        "terms": ("keluarga", "perpustakaan"),
    },
    "indonesian": {
        "voice": ("id",),
        "sentences": (
            "kami tinggal di kota yang ramai",
            "dia membaca buku di perpustakaan",
            "hari ini cuaca sangat panas",
            "adik saya suka bermain bola",
        ),
        "terms": ("perpustakaan", "sepeda motor"),
    },
    "vietnamese": {
        "voice": ("vi",),
        "sentences": (
            "tôi đi học mỗi ngày",
            "hôm nay trời rất đẹp",
            "chúng tôi ăn cơm với gia đình",
            "con mèo ngủ trên ghế",
        ),
        "terms": ("gia đình", "thư viện"),
    },
}

# --- IEMOCAP: conversational lines whose words carry no emotion, so prosody is the only cue -------
DIALOG_LINES: tuple[str, ...] = (
    "I did not know that you were coming today.",
    "Where did you put the keys?",
    "We need to talk about what happened.",
    "I will be there in ten minutes.",
    "That is not what I meant.",
    "Do you remember the first time we met?",
    "They told me the news this morning.",
    "I have been waiting here for an hour.",
    "You should have called me.",
    "It is going to be a long night.",
    "Really?",
    "He said he would come back on Monday.",
    "Let us go home.",
    "What are we going to do now?",
    "The car is parked outside.",
    "Okay.",
    "She moved to another city last year.",
    "I think we should leave now.",
    "Can you hear me?",
    "We have to finish this by Friday.",
    "My mother sent a letter.",
    "It was the last train of the day.",
    "Are you sure about that?",
    "I saw him at the station yesterday.",
    "Nobody told me anything about it.",
    "Yes.",
    "The meeting starts at nine in the morning.",
    "You can keep the money.",
    "Why now?",
    "I found your coat in the kitchen.",
    "We used to live next to the school.",
    "Fine.",
    "Tell me what he said to you.",
    "The doctor will see you in a minute.",
    "No.",
    "I bought the tickets for the show on Saturday night.",
)

# --- Fluent Speech Commands: (action, object, location) -> phrasings ----------------------------
FSC_INTENTS: tuple[tuple[tuple[str, str, str], tuple[str, ...]], ...] = (
    (("activate", "lights", "none"), ("Turn on the lights", "Switch on the lights", "Lights on")),
    (("deactivate", "lights", "none"), ("Turn off the lights", "Switch off the lights", "Lights off")),
    (("increase", "volume", "none"), ("Turn up the volume", "Increase the volume", "Make it louder")),
    (("decrease", "volume", "none"), ("Turn down the volume", "Decrease the volume", "Make it quieter")),
    (("activate", "music", "none"), ("Play the music", "Put on some music", "Start the music")),
    (("deactivate", "music", "none"), ("Stop the music", "Pause the music", "Turn the music off")),
    (("bring", "newspaper", "none"), ("Bring me the newspaper", "Get me the newspaper", "Fetch the newspaper")),
    (("bring", "shoes", "none"), ("Bring me my shoes", "Get me my shoes", "Fetch my shoes")),
    (
        ("change language", "German", "none"),
        ("Change the language to German", "Switch to German", "Set my language to German"),
    ),
    (
        ("change language", "Korean", "none"),
        ("Change the language to Korean", "Switch to Korean", "Set my language to Korean"),
    ),
    (
        ("increase", "heat", "kitchen"),
        ("Turn the heat up in the kitchen", "Make the kitchen warmer", "Increase the temperature in the kitchen"),
    ),
    (
        ("decrease", "heat", "bedroom"),
        ("Turn the heat down in the bedroom", "Make the bedroom cooler", "Decrease the temperature in the bedroom"),
    ),
    (
        ("activate", "lights", "kitchen"),
        ("Turn on the kitchen lights", "Switch on the lights in the kitchen", "Kitchen lights on"),
    ),
    (
        ("deactivate", "lights", "washroom"),
        ("Turn off the washroom lights", "Switch off the lights in the washroom", "Washroom lights off"),
    ),
    (("activate", "lamp", "none"), ("Turn on the lamp", "Switch on the lamp", "Lamp on")),
    (("deactivate", "lamp", "none"), ("Turn off the lamp", "Switch off the lamp", "Lamp off")),
    (("bring", "juice", "none"), ("Bring me some juice", "Get me some juice", "Fetch the juice")),
    (("bring", "socks", "none"), ("Bring me my socks", "Get me my socks", "Fetch my socks")),
    (
        ("change language", "Chinese", "none"),
        ("Change the language to Chinese", "Switch to Chinese", "Set my language to Chinese"),
    ),
    (("change language", "none", "none"), ("Change language", "Switch the language", "Use a different language")),
    (("increase", "heat", "none"), ("Turn the heat up", "Make it warmer", "Increase the temperature")),
    (("decrease", "heat", "none"), ("Turn the heat down", "Make it cooler", "Decrease the temperature")),
    (
        ("activate", "lights", "bedroom"),
        ("Turn on the bedroom lights", "Switch on the lights in the bedroom", "Bedroom lights on"),
    ),
    (
        ("decrease", "heat", "washroom"),
        ("Turn the heat down in the washroom", "Make the washroom cooler", "Decrease the temperature in the washroom"),
    ),
)

# --- Audio SNIPS: intents, templates with {slot} fields, slot values -----------------------------
SNIPS_SLOT_VALUES: dict[str, tuple[str, ...]] = {
    "city": ("BOSTON", "NEW YORK", "CHICAGO", "DENVER", "SEATTLE", "DALLAS", "MIAMI", "SAN DIEGO"),
    "timeRange": ("TOMORROW", "NEXT WEEK", "TONIGHT", "THIS WEEKEND", "AT NOON", "ON MONDAY"),
    "condition_description": ("RAINY", "SUNNY", "WINDY", "CLOUDY", "FOGGY"),
    "artist": ("THE NIGHT RIDERS", "SILVER MOON", "THE RED HOUSE", "JOHNNY CASH", "ELLA"),
    "music_item": ("SONG", "ALBUM", "TRACK", "TUNE"),
    "service": ("THE RADIO", "MY PHONE", "THE TELEVISION"),
    "playlist": ("SUMMER PARTY", "MORNING RUN", "QUIET EVENING", "ROAD TRIP"),
    "party_size_number": ("TWO", "THREE", "FOUR", "SIX", "TEN"),
    "restaurant_type": ("PIZZA PLACE", "STEAK HOUSE", "DINER", "CAFE", "BAR"),
    "rating_value": ("ONE", "TWO", "THREE", "FOUR", "FIVE"),
    "best_rating": ("FIVE", "SIX", "TEN"),
    "object_name": ("THE SILENT RIVER", "OLD TOWN STORIES", "THE LAST SUMMER", "BLUE WATER"),
}
SNIPS_TEMPLATES: dict[str, tuple[str, ...]] = {
    "GetWeather": (
        "WHAT IS THE WEATHER IN {city}",
        "WILL IT BE {condition_description} IN {city} {timeRange}",
        "TELL ME THE FORECAST FOR {city} {timeRange}",
    ),
    "PlayMusic": (
        "PLAY {artist} ON {service}",
        "I WANT TO HEAR A {music_item} BY {artist}",
        "PLAY SOME MUSIC ON {service}",
    ),
    "AddToPlaylist": (
        "ADD THIS {music_item} TO MY {playlist} PLAYLIST",
        "PUT {artist} ON {playlist}",
        "ADD {artist} TO THE {playlist} LIST",
    ),
    "BookRestaurant": (
        "BOOK A TABLE FOR {party_size_number} AT A {restaurant_type} IN {city}",
        "RESERVE A {restaurant_type} FOR {party_size_number} PEOPLE {timeRange}",
        "I NEED A TABLE AT A {restaurant_type} {timeRange}",
    ),
    "RateBook": (
        "RATE THIS BOOK {rating_value} OUT OF {best_rating}",
        "GIVE {object_name} {rating_value} STARS",
        "I GIVE {object_name} A RATING OF {rating_value}",
    ),
}
# Amazon Polly voices of the real Audio SNIPS and the split the SUPERB recipe gives each voice.
SNIPS_SPEAKERS: dict[str, tuple[tuple[str, str], ...]] = {
    "train": (
        ("Ivy", "F"),
        ("Joanna", "F"),
        ("Joey", "M"),
        ("Justin", "M"),
        ("Kendra", "F"),
        ("Kimberly", "F"),
        ("Matthew", "M"),
        ("Salli", "F"),
    ),
    "valid": (("Aditi", "F"), ("Amy", "F"), ("Geraint", "M"), ("Nicole", "F")),
    "test": (("Brian", "M"), ("Emma", "F"), ("Raveena", "F"), ("Russell", "M")),
}


def snips_utterance(rng: np.random.Generator, intent: str) -> tuple[list[str], list[str]]:
    """Words and per-word slot tags (``O`` or the bare slot name, as in s3prl's IOB file)."""
    templates = SNIPS_TEMPLATES[intent]
    template = templates[rng.integers(len(templates))]
    words: list[str] = []
    tags: list[str] = []
    for token in template.split(" "):
        if token.startswith("{") and token.endswith("}"):
            slot = token[1:-1]
            values = SNIPS_SLOT_VALUES[slot]
            value_words = values[rng.integers(len(values))].split(" ")
            words += value_words
            tags += [slot] * len(value_words)
        else:
            words.append(token)
            tags.append("O")
    return words, tags


def english_words() -> set[str]:
    """Every English word the generator can speak (for the CMU dictionary check)."""
    words: set[str] = set()
    phrases: list[str] = [
        *SUBJECTS,
        *VERBS,
        *OBJECTS,
        *TIMES,
        *MANNERS,
        *QBE_TERMS,
        *QBE_PREFIXES,
        *QBE_SUFFIXES,
        *KS_COMMANDS,
        *KS_AUXILIARY,
        *DIALOG_LINES,
    ]
    for _, phrasings in FSC_INTENTS:
        phrases += list(phrasings)
    for values in SNIPS_SLOT_VALUES.values():
        phrases += list(values)
    for templates in SNIPS_TEMPLATES.values():
        phrases += [t for t in templates]
    for phrase in phrases:
        for word in phrase.replace("?", " ").replace(".", " ").replace(",", " ").split():
            if not (word.startswith("{") and word.endswith("}")):
                words.add(word.lower())
    return words
