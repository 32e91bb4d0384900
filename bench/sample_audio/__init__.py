"""Three short utterances spoken by espeak-ng (the built-in sample for `bench extract`).

sample_1.wav "Turn on the lights in the kitchen." (en-us+m3), sample_2.wav "Play some quiet music in the
bedroom, please." (en-gb+f2), sample_3.wav "Yes." (en-us+f4); 16 kHz mono 16-bit.
"""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
