"""peewee models and plain synchronous queries. No Tornado imports here: callers run these in a pool."""
