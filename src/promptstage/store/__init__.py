"""Storage: interfaces in ``base``; the SQLAlchemy implementation in ``sql``."""
