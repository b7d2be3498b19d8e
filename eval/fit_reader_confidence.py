"""Fit the reader's confidence (rag/reader/data/confidence.json), on dev data only.

    .venv/bin/python eval/fit_reader_confidence.py [--per-lang 200]

A logistic regression over `rag.reader.answer.FEATURES` (the best span's margin over the no-answer
score, its score, the best sentence's cosine, log(1 + top BM25), whether a date or number is
missing, the share of the question's words around the span and in its passage) predicting "the
question is answerable here". Answerable: the seeds' dev split questions with answers, the DRCD/CMRC
questions held out of the reader's training (eval/gold/mrc_heldout.json) over their paragraphs, and
XQuAD dev questions over the XQuAD paragraphs: the zh and en ones of the dev articles the reader did
not train on (eval/unseen.py) where it left some, else the English ones of all 24. Unanswerable: the
seeds' dev questions without answers; the seeds' answerable dev questions over the articles less the
sentences that hold their answers (eval/near_miss.py's `near_miss_seeds`: in-domain near misses,
about 80 beside the 12 written by hand); some of those held-out and XQuAD questions asked over the
seeds, which do not speak of them (out of corpus), and the held-out DRCD/CMRC questions over their
paragraphs less the sentence that held the answer (near misses: eval/near_miss.py), the kind of
unanswerable question the off-topic ones do not teach. Features are standardised
(eval/fit_confidence.py's `fit_logistic`), classes balanced. Spans the reader refuses whatever the
confidence (`typed_only`: a number question answered with no numeral) are not fitted on, and count
as abstained at every cut. The cut kept is the one with the most abstention on the unanswerable
seeds questions (hand-written and near misses together: 12 alone move in steps of 0.083) whose false
abstention on the unseen answerable questions (seeds dev, held-out DRCD/CMRC, unseen XQuAD) together
stays at most `--max-false` (0.025: the issue asks for 0.03 on held-out data, this leaves a margin);
it is written as confidence 0.5. The seeds' test split and XQuAD's articles 25-48 are never read.
The reader runs with the settings tuned on dev data (eval/tune_reader.py) that the file already
holds under "tuned"; they are kept in the new file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from fit_confidence import fit_logistic  # noqa: E402
from near_miss import near_miss_seeds, near_miss_squad  # noqa: E402
from unseen import unseen_xquad_ids  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.evaluate import gold_pipeline, load_gold, load_squad, open_squad_pipeline  # noqa: E402
from rag.ingest import load_sources  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.reader.answer import CONFIDENCE_FILE, FEATURES, ReaderSettings  # noqa: E402

# Retrieval similarity, and the question's words found around the answer: may only raise the
# confidence.
MONOTONE = ("dense", "lexical", "window_words", "passage_words")


def _rows(
    pipe: Pipeline, questions: list[tuple[str, int]], what: str
) -> list[tuple[list[float], int, str, bool]]:
    """Per question its features, label, group, and whether the reader refuses it whatever the
    confidence (`typed_only`: a number question answered with none)."""
    out = []
    for question, label in questions:
        ev = pipe.ask(question).to_json()["evidence"]  # as /ask reports it, as the fit read it
        if ev is None or "margin" not in ev:
            continue  # a yes/no question (the rules answer it) or nothing retrieved
        out.append(([float(ev[f]) for f in FEATURES], label, what, bool(ev["refused"])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xquad", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "xquad")
    ap.add_argument("--per-lang", type=int, default=200)
    ap.add_argument("--max-false", type=float, default=0.025, help="dev false abstention allowed")
    args = ap.parse_args()
    # The shipped tuned settings (rank penalty, ...) pick the spans whose features are fitted.
    # Read from the file directly, not through `ReaderSettings.fitted`: a file fitted on other
    # features (the code's FEATURES changed) still holds the tuned settings to refit with.
    kept = json.loads(CONFIDENCE_FILE.read_text()) if CONFIDENCE_FILE.is_file() else {}
    never = ReaderSettings(**kept.get("tuned", {}), abstain_below=0.0)
    if kept.get("features") != list(FEATURES):
        # The pipelines load the file too: until the fit rewrites it, one with no weights.
        zero = {"features": list(FEATURES), "weights": [0.0] * (len(FEATURES) + 1)}
        CONFIDENCE_FILE.write_text(json.dumps({**kept, **zero}, indent=2) + "\n", "utf-8")
    settings = Settings.from_env(reader="e5-reader", cache_size=0)
    seeds = gold_pipeline(settings)
    seeds.reader_settings = never
    gold = load_gold(ROOT / "eval" / "gold" / "seeds.jsonl", split="dev")
    rows = _rows(seeds, [(g.question, int(bool(g.answers))) for g in gold], "seeds")
    # The seeds' own near misses: dev questions over the articles less their answer's sentences
    # (eval/near_miss.py), two corpora of every other question: in-domain unanswerable rows
    # beside the 12 written by hand, that the cut is also chosen by.
    docs = [(d.doc_id, d.text) for d in load_sources([settings.seeds_dir]).documents]
    for part in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "near-seeds.json"
            asked = near_miss_seeds(docs, gold, path, part, 2)
            corpus = load_squad(path)
        near_seeds = open_squad_pipeline(corpus, settings)
        near_seeds.reader_settings = never
        rows += _rows(near_seeds, [(q, 0) for q in asked], "seeds-near")

    # Answerable questions the reader never trained on, where they exist: the DRCD/CMRC
    # questions held out of its training (Chinese). Its margins on XQuAD's dev half, which it
    # trained on, are higher than on unseen questions, and a cut fitted on them abstained on 11%
    # of the seeds' held-out answerable questions; that half still gives the English rows.
    mrc = load_squad(ROOT / "eval" / "gold" / "mrc_heldout.json")
    held = open_squad_pipeline(mrc, settings)
    held.reader_settings = never
    mrc_qs = [q.question for q in mrc.questions]
    rows += _rows(held, [(q, 1) for q in mrc_qs], "mrc")
    rows += _rows(seeds, [(q, 0) for q in mrc_qs[: args.per_lang // 2]], "mrc-off")
    with tempfile.TemporaryDirectory() as tmp:
        near_path = Path(tmp) / "near.json"
        near_miss_squad(ROOT / "eval" / "gold" / "mrc_heldout.json", near_path)
        near = load_squad(near_path)
    near_pipe = open_squad_pipeline(near, settings)
    near_pipe.reader_settings = never
    rows += _rows(near_pipe, [(q.question, 0) for q in near.questions], "mrc-near")
    en_data = json.loads((args.xquad / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    half = len(en_data) // 2
    dev_en = [
        (q["id"], q["question"]) for a in en_data[:half] for p in a["paragraphs"] for q in p["qas"]
    ]
    zh_squad = load_squad(args.xquad / "xquad.zh.json")
    squad = open_squad_pipeline(zh_squad, settings)
    squad.reader_settings = never
    pick = random.Random(1).sample(dev_en, min(args.per_lang, len(dev_en)))
    # The dev articles the reader did not train on, where it left some (eval/unseen.py): their
    # questions, zh and en, are answerable rows as unbiased as the held-out DRCD/CMRC ones, and
    # the only such English rows; the trained-on ones are left out then.
    unseen = unseen_xquad_ids(args.xquad / "xquad.zh.json")
    if unseen:
        zh_qs = [q.question for q in zh_squad.questions if q.id in unseen]
        rows += _rows(squad, [(q, 1) for q in zh_qs], "xquad-zh")
        rows += _rows(squad, [(q, 1) for i, q in dev_en if i in unseen], "xquad-en")
    else:
        rows += _rows(squad, [(q, 1) for _, q in pick], "xquad")
    rows += _rows(seeds, [(q, 0) for _, q in pick[: args.per_lang // 2]], "xquad-off")

    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows], dtype=float)
    what = np.array([r[2] for r in rows])
    vetoed = np.array([r[3] for r in rows])
    w = (~vetoed).astype(float)  # the refused ones never meet the confidence: not fitted on
    for cls in (0.0, 1.0):
        w[y == cls] *= w.sum() / (2 * w[y == cls].sum())
    coef, bias = fit_logistic(x, y, w)
    # A question closer to the articles is never less likely answered from them: where the fit
    # says otherwise (English questions, answerable, sit further from Chinese text than Chinese
    # ones do, so a language difference passes for one of relevance, and an off-topic question
    # such as "What is the capital of Australia?" was answered at 0.72), the feature is dropped.
    # Dropping one can turn another below 0 (lexical, once dense was dropped): until none is.
    dropped: list[int] = []
    while down := [i for i, f in enumerate(FEATURES) if f in MONOTONE and coef[i] < 0]:
        dropped += down
        keep = [i for i in range(len(FEATURES)) if i not in dropped]
        sub, bias = fit_logistic(x[:, keep], y, w)
        coef = np.zeros(len(FEATURES))
        coef[keep] = sub
    if dropped:
        print(f"dropped (fitted below 0): {', '.join(FEATURES[i] for i in dropped)}")
    prob = 1 / (1 + np.exp(-(x @ coef + bias)))
    seeds_a = (what == "seeds") & (y == 1)
    # The cut's false abstention is counted over every answerable question the reader never
    # trained on (the seeds' 89 alone are too few: one question is 0.011).
    unseen_a = seeds_a | (what == "mrc") | (what == "xquad-zh") | (what == "xquad-en")
    seeds_u = (what == "seeds") & (y == 0)
    near_u = what == "seeds-near"
    print(
        f"{len(rows)} rows ({vetoed.sum()} refused: typed_only); features {FEATURES}; "
        f"weights {np.round(coef, 3)}, bias {bias:.3f}"
    )
    print(
        "cut   seeds dev abstention recall (hand-written / near misses) / false abstention"
        f"   mrc / xquad en{' (unseen)' if unseen else ''} abstained   off-topic / near-miss"
        " abstained   unseen answerable abstained"
    )
    en_rows = what == ("xquad-en" if unseen else "xquad")
    off = np.char.endswith(what, "-off")
    chosen, best = 0.5, -1.0
    for cut in np.arange(0.05, 0.91, 0.05):
        ab = (prob < cut) | vetoed
        false = ab[seeds_a].mean()
        recall = ab[seeds_u | near_u].mean()  # what the cut is chosen by, with `pooled`
        pooled = ab[unseen_a].mean()
        print(
            f"{cut:.2f}  {ab[seeds_u].mean():.2f} / {ab[near_u].mean():.2f} / {false:.3f}"
            f"{'':28s}{ab[what == 'mrc'].mean():.3f} / "
            f"{ab[en_rows].mean():.3f}{'':8s}{ab[off].mean():.3f} / "
            f"{ab[what == 'mrc-near'].mean():.3f}{'':22s}{pooled:.3f}"
        )
        if pooled <= args.max_false and recall >= best:
            chosen, best = float(cut), recall
    print(f"cut: {chosen:.2f}")
    shift = -math.log(chosen / (1 - chosen))
    out = {
        "features": list(FEATURES),
        "weights": [round(float(v), 4) for v in (*coef, bias + shift)],
        "abstain_below": 0.5,
        "fitted_on": "seeds dev split and its near misses (the articles less the answers' "
        "sentences); the DRCD/CMRC questions held out of training and "
        + (
            "the zh and en questions of the XQuAD dev articles the reader did not train on"
            if unseen
            else "XQuAD articles 1-24's English questions"
        )
        + " (answerable); held-out and XQuAD English questions asked over the seeds, and the "
        "held-out DRCD/CMRC questions over their paragraphs less the answer's sentence "
        "(unanswerable)",
        "cut": round(chosen, 3),
        "rows": len(rows),
        **{k: kept[k] for k in ("tuned", "tuned_on") if k in kept},
    }
    CONFIDENCE_FILE.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CONFIDENCE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
