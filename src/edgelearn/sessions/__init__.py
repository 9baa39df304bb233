"""Sessions and outcomes: credit from what really happened in the repository (docs/sessions.md).

    settings   the ``[sessions]`` and ``[watch]`` config sections
    credit     the credit rule and ``SessionCredit``, which applies outcomes to a session's runs
"""
