"""Real pipelines (RAG, fine-tuning, hybrid) built on the user's data; heavy imports happen inside."""
