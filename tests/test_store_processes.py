"""Saved workspaces with several server processes (serve.py): two processes saving the same workspace
at once — two tabs of one workspace link that serve.py sent to different workers — leave a readable
workspace and neither save fails. Each save writes a new version folder, switches `current` and removes
the other versions; without a lock per workspace, each process could remove the version the other had
just switched to (both gone), or read a half-written `.current.tmp` of the other's."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

ROUNDS = 12


def _saver(root: str, workspace_id: str, seed: int, start, out) -> None:
    from lib.datasets import Workspace
    from lib.sample import load_samples
    from lib.store import Store

    try:
        ws = Workspace()
        load_samples(ws, kinds=["email_campaigns"])
        store = Store(root)
        start.wait(60)
        for i in range(ROUNDS):
            # a changed threshold: each save writes a new manifest (its data files are linked)
            ws.thresholds = ws.thresholds.with_value("email_gap_min_days", seed * 100 + i)
            store.save(ws.snapshot(), workspace_id)
        ws.close()
        out.put(None)
    except BaseException:  # noqa: BLE001 — reported to the test
        out.put(traceback.format_exc())


def test_two_processes_saving_the_same_workspace_at_once(tmp_path, monkeypatch):
    import sys
    import types

    from lib.datasets import Workspace
    from lib.sample import load_samples
    from lib.store import MANIFEST, Store

    store = Store(tmp_path)
    first = Workspace()
    load_samples(first, kinds=["email_campaigns"])
    workspace_id = store.save(first.snapshot())
    first.close()

    # A spawned process first runs the parent's __main__ again, from its file. On a pytest worker that has
    # run an AppTest.from_function test, __main__ is still that test's script, which fails outside AppTest:
    # the savers start from a __main__ without a file (_saver is found by its module, this one).
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each, as a worker is
    start, out = context.Event(), context.Queue()
    savers = [context.Process(target=_saver, args=(str(tmp_path), workspace_id, seed, start, out))
              for seed in (1, 2)]
    for p in savers:
        p.start()
    start.set()
    failures = [out.get(timeout=240) for _ in savers]
    for p in savers:
        p.join(30)
    assert failures == [None, None], "\n".join(f for f in failures if f)

    folder = Path(tmp_path) / workspace_id
    current = (folder / "current").read_text().strip()
    assert (folder / current / MANIFEST).is_file()  # `current` names a complete version
    snap = store.load(workspace_id)
    assert snap.body["datasets"][0]["kind"] == "email_campaigns"
    assert snap.body["thresholds"]["email_gap_min_days"] in (100 + ROUNDS - 1, 200 + ROUNDS - 1)  # one's last
    assert [p.name for p in folder.iterdir() if p.name.startswith("v-")] == [current]  # the others removed

