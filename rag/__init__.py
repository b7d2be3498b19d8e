"""rag: cited extractive question answering over Chinese articles, in English or Chinese."""

import os

# The embedding engine and FAISS use OpenMP; by default its idle threads spin waiting for work,
# which on a shared 2-core machine steals the cores other requests need (query embedding went
# from ~50 ms to seconds under load). Passive waiting costs nothing when the machine is idle.
# It must be set before the first OpenMP library loads, so it lives here, at package import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
