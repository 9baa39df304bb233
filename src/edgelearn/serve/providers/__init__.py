"""The user's own model providers behind the gateway (OpenAI-compatible servers and Anthropic).

    config.py     ``[providers.<name>]`` and ``[roles.<role>]`` settings, validated at load
    registry.py   ``<provider>/<model>`` ids, the one shared connection pool, model lists, costs
    client.py     one upstream call with retries (backoff, jitter, ``Retry-After``) and ``ProviderError``;
                  the key read from its variable at call time
    http.py       the HTTP/1.1 keep-alive client of provider calls (asyncio streams, TCP_NODELAY)
    check.py      ``edgelearn providers --check`` and the doctor: reachable, key present, key accepted
    anthropic.py  OpenAI chat completions <-> Anthropic Messages, both ways, streams included
    record.py     what a gateway call keeps: messages in OpenAI form, tools, the output message, usage

The HTTP side is ``edgelearn.server.relay`` (pass-through) beside ``edgelearn.server.proxy``.
"""
