"""Test infrastructure shipped with the package: random-weight GGUF models and a
deterministic OpenAI-compatible streaming server."""
