"""Ingest: files and folders in, cleaned Articles out (inputs.py walks and reads, formats.py and html.py parse,
cleaning.py strips boilerplate); indexer.py chunks, embeds and writes them to a store."""

from .cleaning import clean_text
from .inputs import IngestResult, article_id, content_hash, iter_inputs, load

__all__ = ["IngestResult", "article_id", "content_hash", "iter_inputs", "load", "clean_text"]
