"""A parallel sentence grammar for the FLEURS replica: SUBJECT, ACTION (verb + object), TIME.

FLEURS is a parallel corpus: sentence ``id`` N is the same sentence in every language. Here a
sentence id is an index into the product of three slot lists whose k-th entries mean the same in
all seven languages, so ``combination(id)`` picks the same (subject, action, time) everywhere and
only the language's word order differs (Tamil is verb-final, Mandarin puts the time before the
verb). Every subject is one adult person, so English verbs take ``-s`` and Tamil verbs the polite
``-ஆர்`` ending throughout, and every action is something a person does habitually at any time.

The words are common words that espeak-ng's voice for the language reads with its own rules and
dictionary (the tests run every slot value through ``espeak-ng --ipa`` and fail on a switch to
another language); the English words are all in the CMU Pronouncing Dictionary like texts.py's.
Thai values are written with a space between words (espeak-ng has no Thai word segmenter and
reads a run of Thai letters as one word); the written sentence drops those spaces, as Thai does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Grammar:
    """One language's slot values (parallel across languages, index by index) and word order."""

    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    times: tuple[str, ...]
    template: str  # uses {subject}, {action}, {time}
    spaces: bool = True  # False: the script is written without spaces between words (Mandarin, Thai)
    capitalise: bool = True  # Latin script: the sentence starts with a capital letter


GRAMMARS: dict[str, Grammar] = {
    "en_us": Grammar(
        subjects=(
            "my father",
            "my mother",
            "our teacher",
            "the doctor",
            "my friend",
            "the old man",
            "my older brother",
            "my older sister",
            "our neighbor",
            "the farmer",
        ),
        actions=(
            "reads a book",
            "drinks hot tea",
            "eats rice and fish",
            "writes a long letter",
            "cleans the kitchen",
            "buys fresh fruit",
            "listens to music",
            "plays football",
            "washes the car",
            "cooks dinner",
        ),
        times=(
            "in the morning",
            "in the afternoon",
            "in the evening",
            "every day",
            "every Sunday",
            "on Saturday",
            "after work",
        ),
        template="{subject} {action} {time}.",
    ),
    "cmn_hans_cn": Grammar(
        subjects=(
            "我爸爸",
            "我妈妈",
            "我们的老师",
            "那位医生",
            "我的朋友",
            "那位老人",
            "我哥哥",
            "我姐姐",
            "我们的邻居",
            "那位农民",
        ),
        actions=(
            "看书",
            "喝热茶",
            "吃米饭和鱼",
            "写一封长信",
            "打扫厨房",
            "买新鲜的水果",
            "听音乐",
            "踢足球",
            "洗车",
            "做晚饭",
        ),
        times=("早上", "下午", "晚上", "每天", "每个星期天", "星期六", "下班以后"),
        template="{subject}{time}{action}。",
        spaces=False,
        capitalise=False,
    ),
    "ms_my": Grammar(
        subjects=(
            "bapa saya",
            "ibu saya",
            "guru kami",
            "doktor itu",
            "kawan saya",
            "lelaki tua itu",
            "abang saya",
            "kakak saya",
            "jiran kami",
            "petani itu",
        ),
        actions=(
            "membaca buku",
            "minum teh panas",
            "makan nasi dan ikan",
            "menulis surat yang panjang",
            "membersihkan dapur",
            "membeli buah segar",
            "mendengar muzik",
            "bermain bola sepak",
            "mencuci kereta",
            "memasak makan malam",
        ),
        times=(
            "pada waktu pagi",
            "pada waktu petang",
            "pada waktu malam",
            "setiap hari",
            "setiap hari Ahad",
            "pada hari Sabtu",
            "selepas kerja",
        ),
        template="{subject} {action} {time}.",
    ),
    "ta_in": Grammar(
        subjects=(
            "என் அப்பா",
            "என் அம்மா",
            "எங்கள் ஆசிரியர்",
            "அந்த மருத்துவர்",
            "என் நண்பர்",
            "அந்த முதியவர்",
            "என் அண்ணன்",
            "என் அக்கா",
            "எங்கள் அண்டை வீட்டுக்காரர்",
            "அந்த விவசாயி",
        ),
        actions=(
            "புத்தகம் படிக்கிறார்",
            "சூடான தேநீர் குடிக்கிறார்",
            "சோறும் மீனும் சாப்பிடுகிறார்",
            "நீண்ட கடிதம் எழுதுகிறார்",
            "சமையலறையைச் சுத்தம் செய்கிறார்",
            "புதிய பழங்கள் வாங்குகிறார்",
            "இசை கேட்கிறார்",
            "கால்பந்து விளையாடுகிறார்",
            "காரைக் கழுவுகிறார்",
            "இரவு உணவு சமைக்கிறார்",
        ),
        times=("காலையில்", "மதியம்", "மாலையில்", "தினமும்", "ஞாயிறுதோறும்", "சனிக்கிழமை அன்று", "வேலை முடிந்ததும்"),
        template="{subject} {time} {action}.",
        capitalise=False,
    ),
    "id_id": Grammar(
        subjects=(
            "ayah saya",
            "ibu saya",
            "guru kami",
            "dokter itu",
            "teman saya",
            "pria tua itu",
            "abang saya",
            "kakak perempuan saya",
            "tetangga kami",
            "petani itu",
        ),
        actions=(
            "membaca buku",
            "minum teh panas",
            "makan nasi dan ikan",
            "menulis surat yang panjang",
            "membersihkan dapur",
            "membeli buah segar",
            "mendengarkan musik",
            "bermain sepak bola",
            "mencuci mobil",
            "memasak makan malam",
        ),
        times=(
            "pada pagi hari",
            "pada siang hari",
            "pada malam hari",
            "setiap hari",
            "setiap hari Minggu",
            "pada hari Sabtu",
            "sepulang kerja",
        ),
        template="{subject} {action} {time}.",
    ),
    "th_th": Grammar(
        subjects=(
            "พ่อ ฉัน",
            "แม่ ฉัน",
            "ครู เรา",
            "หมอ คน นั้น",
            "เพื่อน ฉัน",
            "ชาย แก่ คน นั้น",
            "พี่ ชาย ฉัน",
            "พี่ สาว ฉัน",
            "เพื่อน บ้าน เรา",
            "ชาว นา คน นั้น",
        ),
        actions=(
            "อ่าน หนังสือ",
            "ดื่ม ชา ร้อน",
            "กิน ข้าว กับ ปลา",
            "เขียน จดหมาย ยาว",
            "ทำ ความ สะอาด ห้อง ครัว",
            "ซื้อ ผลไม้ สด",
            "ฟัง เพลง",
            "เล่น ฟุตบอล",
            "ล้าง รถ",
            "ทำ อาหาร เย็น",
        ),
        times=("ตอน เช้า", "ตอน บ่าย", "ตอน เย็น", "ทุก วัน", "ทุก วัน อาทิตย์", "ใน วัน เสาร์", "หลัง เลิก งาน"),
        template="{subject} {action} {time}",  # Thai ends a sentence without a full stop
        spaces=False,
        capitalise=False,
    ),
    "vi_vn": Grammar(
        subjects=(
            "bố tôi",
            "mẹ tôi",
            "giáo viên của chúng tôi",
            "bác sĩ đó",
            "bạn tôi",
            "ông cụ đó",
            "anh trai tôi",
            "chị gái tôi",
            "hàng xóm của chúng tôi",
            "người nông dân đó",
        ),
        actions=(
            "đọc sách",
            "uống trà nóng",
            "ăn cơm với cá",
            "viết một lá thư dài",
            "dọn dẹp nhà bếp",
            "mua trái cây tươi",
            "nghe nhạc",
            "chơi bóng đá",
            "rửa xe",
            "nấu bữa tối",
        ),
        times=(
            "vào buổi sáng",
            "vào buổi chiều",
            "vào buổi tối",
            "mỗi ngày",
            "vào mỗi Chủ nhật",
            "vào thứ Bảy",
            "sau giờ làm việc",
        ),
        template="{subject} {action} {time}.",
    ),
}
LANGS: tuple[str, ...] = tuple(GRAMMARS)
_SIZES = (len(GRAMMARS["en_us"].subjects), len(GRAMMARS["en_us"].actions), len(GRAMMARS["en_us"].times))
NUM_SENTENCES: int = _SIZES[0] * _SIZES[1] * _SIZES[2]


def combination(sentence_id: int) -> tuple[int, int, int]:
    """The (subject, action, time) indices of a sentence id: the same in every language."""
    if not 0 <= sentence_id < NUM_SENTENCES:
        raise ValueError(f"sentence id {sentence_id} is outside 0..{NUM_SENTENCES - 1}")
    subject, rest = divmod(sentence_id, _SIZES[1] * _SIZES[2])
    action, time = divmod(rest, _SIZES[2])
    return subject, action, time


def spoken(lang: str, sentence_id: int) -> str:
    """The text given to espeak-ng (Thai keeps its word spaces so that espeak can read the words)."""
    grammar = GRAMMARS[lang]
    s, a, t = combination(sentence_id)
    text = grammar.template.format(subject=grammar.subjects[s], action=grammar.actions[a], time=grammar.times[t])
    text = unicodedata.normalize("NFC", text)  # one code point per accented letter (Vietnamese)
    return text[0].upper() + text[1:] if grammar.capitalise else text


def sentence(lang: str, sentence_id: int) -> str:
    """The sentence as written: FLEURS's ``raw_transcription``."""
    text = spoken(lang, sentence_id)
    return text if GRAMMARS[lang].spaces else "".join(text.split())


def normalise(lang: str, text: str) -> str:
    """FLEURS-style ``transcription``: lower case, no punctuation, single spaces (none for cmn/th)."""
    kept = "".join(
        " " if unicodedata.category(ch).startswith("Z") else ch
        for ch in text
        if not unicodedata.category(ch).startswith("P")
    )
    words = kept.lower().split()
    return " ".join(words) if GRAMMARS[lang].spaces else "".join(words)


def characters(lang: str, transcription: str) -> str:
    """The character field: ``h e l l o | w o r l d |``; scripts without spaces: ``我 爸 爸 … |``."""
    if not GRAMMARS[lang].spaces:
        return " ".join(transcription) + " |"
    return " | ".join(" ".join(word) for word in transcription.split()) + " |"


def slot_values(lang: str) -> list[str]:
    """Every slot value of a language as spoken (for the espeak-ng coverage check)."""
    grammar = GRAMMARS[lang]
    return [*grammar.subjects, *grammar.actions, *grammar.times]
