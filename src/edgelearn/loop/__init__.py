"""The learning loop: triggers (``triggers``), the chain curate → train → export → gate →
register → A/B (``chain``), and what the status screens read (``status``)."""
