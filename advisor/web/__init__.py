"""`advisor serve`: the questionnaire, the live verdict and the validation runs as a local web app.

Needs the optional extra `advisor[web]` (FastAPI and uvicorn); importing this package alone loads neither.
"""
