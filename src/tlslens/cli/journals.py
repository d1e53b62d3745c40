"""The workers' journals of TLS 1.2 session secrets (KeyStore.journal) replayed in the parent
(cli/shares.py): did every resumption find, in its share, what it finds in one process?"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from tlslens.keys.store import KeyStore

END = 1 << 62  # the last journal note's mark: nothing more will come


class Replay:
    """The workers' journals of session secrets (KeyStore.journal), replayed as they come
    in frame order on one bounded store, as one process would have learnt and looked them
    up: ``add`` is False at the first lookup that would have found otherwise. Events wait
    only until every worker has read past them (its mark), so memory is bounded by how far
    the workers drift apart."""

    def __init__(self, workers: int) -> None:
        self.events: list[deque[list[Any]]] = [deque() for _ in range(workers)]
        self.marks = [0] * workers
        self.tables: dict[str, OrderedDict[str, None]] = {
            "sessions": OrderedDict(),
            "tickets": OrderedDict(),
        }

    def add(self, worker: int, mark: int, events: list[list[Any]]) -> bool:
        self.events[worker].extend(events)
        self.marks[worker] = mark
        limit = min(self.marks)
        while True:
            # By frame, then (within the end-of-capture flush) by connection, as one process.
            heads = [
                (q[0][0], q[0][1], k) for k, q in enumerate(self.events) if q and q[0][0] <= limit
            ]
            if not heads:
                return True
            _frame, _flow, op, table, key, found = self.events[min(heads)[2]].popleft()
            learnt = self.tables[table]
            if op == "learn":
                learnt.pop(key, None)
                learnt[key] = None
                while len(learnt) > KeyStore.MAX_SESSIONS:
                    learnt.popitem(last=False)
            elif (key in learnt) != found:
                return False
