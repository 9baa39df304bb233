"""Serving: the model registry's files, backends, routing, and Ollama registration.

    backends.py        Backend interface (one method: ``stream``; what it serves), the registry by name, FakeBackend
    llamacpp.py        the embedded backend: llama-cpp-python, LRU of loaded variants, one lock per model
    prefix_cache.py    saved llama.cpp contexts, so interleaved agents' long prompt prefixes are processed once
    tools.py           tools on local models: rendering them into the prompt, parsing calls back (docs/tools.md)
    ollama_backend.py  the Ollama backend (serving through the official client)
    ollama.py          registering versions with Ollama (blobs, create, show, delete) and ``probe(url)``
    templates.py       GGUF chat template → Ollama template, stops, Modelfiles; Ollama name rules
    sync.py            the Ollama sync queue worker (retries with backoff while Ollama is down)
    engine.py          which backend serves a model id (as the backends declare); running it off the event loop
    routing.py         ``edgelearn/<role>`` → experiment, selector, champion or base (and the protocols)
    artifacts.py       checking, hashing and keeping a version's files under the home
    base.py            where the base GGUF is; file digests
    service.py         ``install(runtime)``: the "serving" service

The registry's SQL is ``edgelearn.store.models``; the HTTP side is ``edgelearn.server.proxy`` (the
OpenAI-compatible proxy) and ``edgelearn.server.models`` (registry endpoints).
"""
