"""Sessions and outcomes: credit from what really happened in the repository (docs/sessions.md).

    settings     the ``[sessions]`` and ``[watch]`` config sections
    credit       the credit rule and ``SessionCredit``, which applies outcomes to a session's runs
    agents       each agent's hook payload → a ``HookEvent``; ``hooks`` applies one
    commands     test / build / lint commands and their output → signals
    edits        the lines an assistant's edit added; ``survival`` scores them against a commit
    install      agent and git config for the hooks, merged into the user's files
    client       the running edgelearn over HTTP, for ``notify``, ``hooks run``, ``mcp``
    mcp_server   ``edgelearn mcp``: report_outcome, similar_runs, learning_status on stdio
    examples     the best-rewarded similar runs (``similar_runs``)
    watcher      JUnit / SARIF / lastfailed files in watched repositories → signals
    profile      a repository's languages and frameworks
    insights     the review queue and the failure patterns
"""
