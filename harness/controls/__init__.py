"""A firm's own controls, measured in place of powerpeg's (``controls.external``).

- :mod:`.base` — what a bundled control is (:class:`Control`: typed params, start, ready,
  what it says of itself);
- :mod:`.registry` — the bundled controls by kind; one module each (:mod:`.prometheus`:
  Prometheus + Alertmanager; :mod:`.placement`: where its daemons run on each backend, local
  processes or compose containers);
- :mod:`.external` — one run's external controls: start the bundled ones, wait until
  every control is ready, observe, collect;
- :mod:`.publish` — what a firm's control is told (`powerpeg env`);
- :mod:`.pipeline` — where the detection time went, stage by stage (pure).
"""
