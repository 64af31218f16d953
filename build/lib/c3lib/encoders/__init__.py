"""Encoders that map inputs to embeddings: open_clip models (paper scale), frozen offline towers
(EfficientNet-Lite0, MiniLM) for real data on a CPU. Each returns unnormalised ``(n, d)`` float32 arrays
unless asked to normalise."""
