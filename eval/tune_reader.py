"""Tune the reader's rank penalty on dev data (seeds dev; XQuAD articles 1-24, 150 q a language).

.venv/bin/python eval/tune_reader.py
"""

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag.config import Settings
from rag.evaluate import (
    evaluate_gold,
    evaluate_squad,
    gold_pipeline,
    load_gold,
    load_squad,
    open_squad_pipeline,
)

X = Path("../shared/benchmarks/xquad")
s = Settings.from_env(cache_size=0, reader="e5-reader")
seeds = gold_pipeline(s)
gold = load_gold(Path("eval/gold/seeds.jsonl"), split="dev")
zh = load_squad(X / "xquad.zh.json", split="dev", limit=150)
en = load_squad(X / "xquad.zh.json", X / "xquad.en.json", split="dev", limit=150)
squad = open_squad_pipeline(zh, s)
base = seeds.reader_settings
for lam in (0.0, 1.0, 2.0, 4.0, 100.0):
    for p in (seeds, squad):
        p.reader_settings = replace(base, rank_penalty=lam)
    g = evaluate_gold(seeds, gold).metrics
    a = evaluate_squad(squad, zh.questions).metrics
    b = evaluate_squad(squad, en.questions).metrics
    print(
        f"rank_penalty {lam}: seeds dev accuracy {g.answer_accuracy:.3f}; "
        f"XQuAD zh EM {a.em:.3f} F1 {a.f1:.3f}; en EM {b.em:.3f} F1 {b.f1:.3f}",
        flush=True,
    )
