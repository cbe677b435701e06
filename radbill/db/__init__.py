"""Database access: the embedded cluster, the migrations runner and connection helpers."""
