#!/usr/bin/env bash
# Regenerate the committed reports under eval/reports/ (run from the repository root).
#   bash eval/make_reports.sh            all four
#   bash eval/make_reports.sh seeds      only the gold-set ones (a few minutes)
#   bash eval/make_reports.sh xquad      only the XQuAD ones (the first run embeds 240 paragraphs)
# XQuAD lives in shared/benchmarks/xquad beside the repository (XQUAD_DIR overrides it). Latencies
# are only comparable between runs on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RAG=(.venv/bin/rag)
[ -x "${RAG[0]}" ] || RAG=(python -m rag.cli)
XQUAD=${XQUAD_DIR:-../shared/benchmarks/xquad}
[ -d "$XQUAD" ] || XQUAD=/work/shared/benchmarks/xquad
what=${1:-all}

if [ "$what" = all ] || [ "$what" = seeds ]; then
  "${RAG[@]}" eval --gold eval/gold/seeds.jsonl --split dev \
    --config dense --config bm25 --config hybrid --config hybrid+dict --report eval/reports/seeds-dev
  "${RAG[@]}" eval --gold eval/gold/seeds.jsonl --split test --report eval/reports/seeds-test
fi
if [ "$what" = all ] || [ "$what" = xquad ]; then
  ABLATION=(--config dense --config bm25 --config hybrid --config hybrid+dict)
  "${RAG[@]}" eval --squad "$XQUAD/xquad.zh.json" "${ABLATION[@]}" --report eval/reports/xquad-zh-zh
  "${RAG[@]}" eval --squad "$XQUAD/xquad.zh.json" --questions "$XQUAD/xquad.en.json" \
    "${ABLATION[@]}" --report eval/reports/xquad-en-zh
fi
