"""Home's "My workspaces" (Store.list, also run by every save for the owner's quota) parses each saved
manifest once per process and again only when its file changes (lib.store._LISTED): a rename, a
share, a new save and a delete all show at once."""

from lib import store
from lib.datasets import Workspace
from lib.sample import load_samples
from lib.store import Store


def test_list_reparses_only_changed_manifests_and_sees_every_change(tmp_path, monkeypatch):
    s = Store(tmp_path)
    ws = Workspace()
    try:
        load_samples(ws, kinds=["email_campaigns"])
        ana = "ana@example.com"
        first = s.save(ws.snapshot(), owner=ana)
        second = s.save(ws.snapshot(), owner=ana)
        store._LISTED.clear()
        parsed = []
        real = store.read_manifest
        monkeypatch.setattr(store, "read_manifest", lambda data, name: parsed.append(name) or real(data, name))

        def listed(owner=ana):
            before = len(parsed)
            found = {w["id"]: w for w in s.list(owner)}
            return found, len(parsed) - before  # the workspaces, and how many manifests list parsed

        found, n = listed()
        assert set(found) == {first, second} and n == 2
        assert listed()[1] == 0  # nothing changed: nothing parsed again

        s.rename(first, "Workshop", owner=ana)  # each writes a new manifest file
        s.share(second, ana)
        found, n = listed()
        assert found[first]["name"] == "Workshop" and found[second]["shared"] is True and n == 2

        s.save(ws.snapshot(), first, owner=ana)  # a new version of one
        found, n = listed()
        assert set(found) == {first, second} and n == 1  # only the new version's manifest
        assert found[first]["saved_at"] >= found[second]["saved_at"]

        s.delete(second, ana)
        found, n = listed()
        assert set(found) == {first} and n == 0
        assert not [p for p in store._LISTED if second in p]  # the deleted workspace is forgotten
        assert listed("bob@example.com")[0] == {}  # still by owner
    finally:
        ws.close()
