"""The HTTP layer: hook endpoints, the OpenAI-compatible proxy, status. Status codes live only here."""
