"""Make a synthetic speech corpus from text: the same as `asr synth` (see `asr synth --help`).

    python tools/synth_corpus.py --text ../shared/data/text/lm_train.txt.gz --out corpus --split train --hours 10
    python tools/synth_corpus.py --text ../shared/data/text/lm_dev.txt --out corpus --split dev --num 500 --stop 1000

Voices: espeak-ng (English accents x variants), flite (awb, kal16, rms, slt) and festival
(kal_diphone, ked_diphone), those installed; dev and test voices never occur in train. The
work is done by asr.data.synth; this script is its entry point outside the `asr` command.
"""

from __future__ import annotations

import sys

from asr.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth", *sys.argv[1:]]))
