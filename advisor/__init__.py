"""advisor: recommend RAG, fine-tuning or a hybrid, and validate the choice on your own data."""

__version__ = "0.1.0"
