"""Video providers: one module per provider, each declaring its ``SPEC`` (see :mod:`veokit.providers.registry`)."""
