"""Online serving: the champion (and a canary challenger) behind FastAPI, with a prediction log.

Plain Python over ``ml_assets.lib``: nothing here imports Dagster, so ``ml-assets serve`` starts
without loading the code location.
"""
