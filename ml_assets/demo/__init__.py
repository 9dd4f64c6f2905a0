"""The bundled demo: the seed's dataset, its contract and configuration, and its data generator.

A project of its own: everything generic lives in ``ml_assets.lib``; a user's project replaces
this folder with the files ``ml-assets init`` writes.
"""
