"""Models, each behind one small interface: ``predict(batch) -> arrays``."""
