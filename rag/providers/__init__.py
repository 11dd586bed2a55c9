"""Model providers (plugins): base.py (the Model protocol, SPEC parsing, the registry and its entry-point group),
llamacpp.py (local GGUF models through llama.cpp, with gguf.py finding and verifying the files) and openai.py (any
OpenAI-compatible server). The extractive answerer registers itself from rag.answering.extractive."""
