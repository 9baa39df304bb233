"""The record stage: a request (``schemas``) becomes a redacted (``privacy``), scored
(``rewards``, ``signals``) run written through the store (``recorder``)."""
