"""Everything persistent, behind one :class:`~storage.store.Store`."""

from storage.store import Store

__all__ = ["Store"]
