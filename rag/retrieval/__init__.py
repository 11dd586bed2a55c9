"""Retrieval: the retriever (retriever.py) over a store, rank fusion (fusion.py), routing by the outlets and dates
a question names (routing.py), and the text signals it reads (terms.py)."""

from ..storage.keyword import fts_match
from .fusion import rrf
from .retriever import RetrievalConfig, Retriever
from .routing import OutletMatcher, QueryAnalysis, analyze, find_dates, outlet_aliases
from .terms import MAX_QUERY_CHARS, STOPWORDS, check_query, keyword_terms, sentence_match

__all__ = ["MAX_QUERY_CHARS", "OutletMatcher", "QueryAnalysis", "RetrievalConfig", "Retriever", "STOPWORDS",
           "analyze", "check_query", "find_dates", "fts_match", "keyword_terms", "outlet_aliases", "rrf",
           "sentence_match"]
