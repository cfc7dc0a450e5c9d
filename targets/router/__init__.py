"""The router fleet member (the Knight "SMARS" analogue).

Takes parent orders over HTTP, slices them into child orders sent to the
exchange over one FIX session, and tracks fills against each parent. The
``v1`` build still carries the legacy Power Peg path (``powerpeg.py``), the
deliberate latent fault this project replays.
"""
