"""Task embeddings: ``encode`` (the model, a leaf), ``process`` (the child process that encodes
in the background), ``embedder`` (the thread that finds unembedded runs and stores vectors).

Imports run one way: embedder → process → encode. Nothing here is imported eagerly, so that
``import edgelearn.embed`` does not load torch.
"""
