"""The user's own model providers behind the gateway (OpenAI-compatible servers and Anthropic).

    config.py     ``[providers.<name>]`` and ``[roles.<role>]`` settings, validated at load
    registry.py   ``<provider>/<model>`` ids, the one shared HTTP client, model lists, keys at call time
    client.py     one upstream call with retries (backoff, jitter, ``Retry-After``) and ``ProviderError``
    anthropic.py  OpenAI chat completions <-> Anthropic Messages, both ways, streams included
    record.py     what a gateway call keeps: messages in OpenAI form, tools, the output message, usage

The HTTP side is ``edgelearn.server.relay`` (pass-through) beside ``edgelearn.server.proxy``.
"""
