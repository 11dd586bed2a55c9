"""The Milvus backend (`--index milvus://HOST:PORT/COLLECTION` or `milvus-lite:///path/file.db`): store.py is the
contract's implementation, schema.py the collections and the Filters -> expression translation. Needs the
`milvus` extra (pymilvus, milvus-lite); importing this package does not import pymilvus."""
