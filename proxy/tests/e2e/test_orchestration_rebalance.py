"""Orchestration against real processes, part 2: rebalance and placement labels.

Like test_orchestration.py (see its notes and orch_harness.py): three SeaweedFS servers of this
module's own, one private proxy per test over real buckets of its own, and every check made from
the backends' own listings (each physical object HEADed for its `x-amz-meta-s3o-*` labels) as
well as through the proxy:

- a rebalance started from the UI API evens a 90 % / 10 % fill of two backends to within the
  configured threshold, with readers comparing MD5s throughout and every object's bytes (read
  from the backend itself) unchanged;
- copies of a bucket with `replication = 2` and `distinct = ["provider"]` stay on two providers
  through writes, a drain of one backend and a rebalance.

Moved copies leave their old backend only after the cleanup queue's 60 s grace period, so each
test ends by waiting (bounded) for the listings to hold exactly the current copies.
"""

from __future__ import annotations

import io
import random

import pytest
from boto3.s3.transfer import TransferConfig

from orch_harness import (
    CLEANUP_WAIT_SECS,
    MIB,
    Backends,
    Be,
    Reader,
    body,
    check_all,
    copy_problems,
    log_lines,
    md5,
    orch_proxy,
    put_many,
    settle,
    three_weeds,
    wait_for,
)


@pytest.fixture(scope="module")
def weeds(tmp_path_factory):
    yield from three_weeds(tmp_path_factory, "orch2")


def sizes(objects: dict) -> dict:
    return {o: len(d) for o, d in objects.items()}


# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_rebalance_evens_a_90_10_fill(weeds, tmp_path):
    """Two backends with 40 MiB quotas; bucket `fill` packs over [r1, r2], bucket `side` lives on
    r2 only. 120 objects of 256 KiB and a 6 MiB multipart one in `fill` (all on r1: 36 MiB, 90 %)
    and 16 of 256 KiB in `side` (r2: 4 MiB, 10 %), as r1's and r2's own listings show. A
    rebalance (`strategy = "spread"`, `threshold = 0.1`) is started with `POST /ui/api/rebalance`
    in a UI session (form login) and polled on `GET /ui/api/rebalance/status` until `done`, while
    a reader thread GETs objects and compares MD5s. Once the cleanup queue deleted the moved
    copies' originals (after its 60 s grace period), the fills from the backends' own listings
    differ by at most the threshold, every object has exactly one copy, and each copy's bytes read
    straight from its backend have the MD5 recorded at the write."""
    quota = 40 * MIB
    threshold = 0.1
    backends = [Be("r1", 0, "rebal-r1", {"quota_bytes": quota}), Be("r2", 1, "rebal-r2", {"quota_bytes": quota})]
    bk = Backends(weeds, backends)
    sections = {"rebalance": {"strategy": "spread", "threshold": threshold, "batch_size": 1000, "concurrency": 2}}
    buckets = [{"name": "fill", "backends": ["r1", "r2"], "placement": "pack"},
               {"name": "side", "backends": ["r2"], "placement": "pack"}]
    with orch_proxy(tmp_path / "proxy", weeds, backends, buckets, sections) as p:
        objects = {("fill", f"obj/{i:03d}"): body(256 * 1024, i) for i in range(120)}
        put_many(p.s3, "fill", {k: d for (_, k), d in objects.items()})
        big = body(6 * MIB, 777)
        p.s3.upload_fileobj(io.BytesIO(big), "fill", "obj/multipart",
                            Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
        objects[("fill", "obj/multipart")] = big
        side = {("side", f"obj/{i:02d}"): body(256 * 1024, 1000 + i) for i in range(16)}
        put_many(p.s3, "side", {k: d for (_, k), d in side.items()})
        objects.update(side)
        before = {n: bk.used(n) for n in ("r1", "r2")}
        assert before == {"r1": 36 * MIB, "r2": 4 * MIB}, before
        assert not copy_problems(bk.by_object(), sizes(objects), 1)

        reader = Reader(p.endpoint, {o: md5(d) for o, d in objects.items()})
        reader.start()
        st = p.rebalance()
        assert st.get("status") == "done" and st.get("ok") is True and st.get("moved", 0) > 0, \
            f"rebalance status {st}\n{log_lines(p, 'rebalance')}"
        check_all(p.s3, objects)
        took = settle("exactly one copy of every object (the moved copies' originals deleted after the cleanup "
                      "queue's grace period)", lambda: copy_problems(bk.by_object(), sizes(objects), 1),
                      CLEANUP_WAIT_SECS, every=2)
        reader.finish()
        assert not reader.failures, f"{len(reader.failures)} reads failed: {[(f[2], f[3]) for f in reader.failures[:10]]}"
        assert reader.ok > 20, f"the reader made only {reader.ok} reads"
        after = {n: bk.used(n) for n in ("r1", "r2")}
        fills = {n: after[n] / quota for n in after}
        assert abs(fills["r1"] - fills["r2"]) <= threshold + 1e-9, f"fills after the rebalance: {fills}"
        assert all(v <= quota for v in after.values()), after
        assert sum(after.values()) == sum(before.values()), (before, after)
        # Every copy, read from its backend itself, holds the bytes written.
        for obj, copies in bk.by_object().items():
            assert md5(bk.read(copies[0])) == md5(objects[obj]), f"{obj} on {copies[0].backend} differs"
        check_all(p.s3, objects)
        print(f"rebalance moved {st['moved']} objects: fills {before} -> {after} "
              f"({fills['r1']:.3f} / {fills['r2']:.3f}); old copies gone {took:.0f} s after; {reader.ok} reads, none failed")


# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_copies_stay_on_distinct_providers(weeds, tmp_path):
    """Four backends labelled `provider` (alpha: a1, a2; beta: b1, b2; spread over the three
    servers), quotas of 32 MiB, and a bucket with `replication = 2`, `distinct = ["provider"]`
    (synchronous writes, every copy required). Phases: writes while the bucket has only a1, a2
    and b1 (so b1 holds every beta copy); a restart with b2 added to the bucket; a rebalance
    (`threshold = 0.05`) that evens b1 into the empty b2 (b1 is the fullest, b2 the emptiest; a
    move that would put both copies at one provider is refused); a drain of a1 with writes going
    on meanwhile (its copies can only go to a2). After each phase, every object's two current copies (the proxy's
    locations, each found in its backend's own listing) are at two providers, its physical copies
    over the listings cover both providers, and every object reads back whole (a reader thread
    runs throughout). At the end, once the cleanup queue deleted the dropped copies (60 s grace),
    the listings alone show exactly two copies of every object, one per provider."""
    provider = {"a1": "alpha", "a2": "alpha", "b1": "beta", "b2": "beta"}
    servers = {"a1": 0, "a2": 1, "b1": 2, "b2": 0}
    backends = [Be(n, servers[n], f"labels-{n}", {"quota_bytes": 32 * MIB, "labels": {"provider": provider[n]}})
                for n in provider]
    bk = Backends(weeds, backends)
    sections = {"replication": {"mode": "sync", "write_quorum": 0},
                "rebalance": {"strategy": "spread", "threshold": 0.05, "concurrency": 2}}

    def bucket(names):
        return [{"name": "labeled", "backends": names, "placement": "spread", "replication": 2,
                 "distinct": ["provider"]}]
    rng = random.Random(5)
    with orch_proxy(tmp_path / "proxy", weeds, backends, bucket(["a1", "a2", "b1"]), sections) as p:

        def check(phase: str) -> list[str]:
            found = bk.by_object()
            problems = []
            for obj in objects:
                locs = p.locations(*obj)
                on = sorted(b for b, _ in locs)
                if len(locs) != 2 or {provider[b] for b in on} != {"alpha", "beta"}:
                    problems.append(f"{phase}: {obj} has its copies on {on}")
                listed = {(c.backend, c.physical_key) for c in found.get(obj, [])}
                missing = [loc for loc in locs if loc not in listed]
                if missing:
                    problems.append(f"{phase}: {obj}: {missing} not in the backends' listings")
                if {provider[c.backend] for c in found.get(obj, [])} != {"alpha", "beta"}:
                    problems.append(f"{phase}: {obj} physically on {[c.backend for c in found.get(obj, [])]}")
            return problems

        def write(prefix: str, n: int, seed: int) -> dict:
            new = {("labeled", f"{prefix}/{i:03d}"): body(rng.randint(64 * 1024, 256 * 1024), seed + i) for i in range(n)}
            put_many(p.s3, "labeled", {k: d for (_, k), d in new.items()}, threads=4)
            return new

        def on(name: str) -> int:
            return sum(1 for o in objects if any(b == name for b, _ in p.locations(*o)))

        # Phase 1: writes over a1, a2, b1.
        objects = write("first", 48, 0)
        settle("writes: copies at two providers", lambda: check("writes"), 20)
        assert on("b1") == len(objects) and on("a1") > 5, (on("a1"), on("a2"), on("b1"))

        # Phase 2: b2 joins the bucket (restart on the new config).
        p.reconfigure(backends, bucket(["a1", "a2", "b1", "b2"]), sections)
        reader = Reader(p.endpoint, {o: md5(d) for o, d in objects.items()})
        reader.start()
        assert not check("restart")

        # Phase 3: a rebalance evens b1 into b2.
        on_b2 = on("b2")
        st = p.rebalance()
        assert st.get("status") == "done" and st.get("ok") is True and st.get("moved", 0) > 0, \
            f"rebalance status {st}\n{log_lines(p, 'rebalance')}"
        settle("after the rebalance: copies at two providers", lambda: check("rebalance"), 20)
        moved_to_b2 = on("b2") - on_b2
        assert moved_to_b2 > 0, f"the rebalance moved nothing into b2 ({st})"
        check_all(p.s3, objects)

        # Phase 4: drain a1, writing meanwhile.
        on_a1 = on("a1")
        assert p.admin("POST", "/admin/api/backends/a1/drain") == (202, {"status": "drain started", "backend": "a1"})
        during = write("during-drain", 10, 1000)
        objects.update(during)
        for o, d in during.items():
            reader.add(o, md5(d))
        final = wait_for("the drain of a1 to finish",
                         lambda: (lambda st: st if not st["active"] else None)(p.drain_status("a1")), 60, every=0.5)
        assert final.get("error") is None and final["objects_remaining"] == 0, final
        assert on("a1") == 0, "copies left on a1 after its drain"
        settle("after the drain: copies at two providers", lambda: check("drain"), 20)
        check_all(p.s3, objects)

        # The end: the listings alone, once the dropped copies are deleted.
        took = settle("exactly two copies of every object, one per provider (the dropped copies deleted after "
                      "the cleanup queue's grace period)",
                      lambda: copy_problems(bk.by_object(), sizes(objects), 2, label=provider.get),
                      CLEANUP_WAIT_SECS, every=2)
        reader.finish()
        assert not reader.failures, f"{len(reader.failures)} reads failed: {[(f[2], f[3]) for f in reader.failures[:10]]}"
        assert reader.ok > 20, f"the reader made only {reader.ok} reads"
        check_all(p.s3, objects)
        print(f"labels: {len(objects)} objects; the rebalance moved {st['moved']} ({moved_to_b2} into b2); "
              f"{on_a1} had a copy on a1 before its drain (objects_moved {final['objects_moved']}); copies per "
              f"backend now {[(n, on(n)) for n in provider]}; listings exact {took:.0f} s later; "
              f"{reader.ok} reads, none failed")


# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_rebalance_evens_within_providers(weeds, tmp_path):
    """A bucket with `replication = 2`, `distinct = ["provider"]` is written over a1 (alpha) and
    b1 (beta) only, so both hold every object (about 30 % of their 16 MiB quotas); then a2
    (alpha) and b2 (beta), empty, join it (restart on the new config). A spread rebalance
    (`threshold = 0.05`) must even a1 with a2 and b1 with b2 (the only moves the policy allows):
    it must move something, and the fills (the backends' own listings, once the cleanup queue
    deleted the moved copies' originals) must end within the threshold, copies still at two
    providers."""
    provider = {"a1": "alpha", "a2": "alpha", "b1": "beta", "b2": "beta"}
    servers = {"a1": 0, "a2": 1, "b1": 2, "b2": 1}
    quota = 16 * MIB
    backends = [Be(n, servers[n], f"within-{n}", {"quota_bytes": quota, "labels": {"provider": provider[n]}})
                for n in provider]
    sections = {"rebalance": {"strategy": "spread", "threshold": 0.05, "concurrency": 2}}

    def bucket(names):
        return [{"name": "within", "backends": names, "placement": "spread", "replication": 2,
                 "distinct": ["provider"]}]
    with orch_proxy(tmp_path / "proxy", weeds, backends, bucket(["a1", "b1"]), sections) as p:
        objects = {("within", f"k{i:02d}"): body(128 * 1024, i) for i in range(40)}
        put_many(p.s3, "within", {k: d for (_, k), d in objects.items()})
        p.reconfigure(backends, bucket(["a1", "a2", "b1", "b2"]), sections)
        st = p.rebalance()
        used = {b["name"]: b["bytes_used"] for b in p.admin("GET", "/admin/api/status")[1]["backends"]}
        fills = {n: round(used.get(n, 0) / quota, 3) for n in provider}
        assert st.get("status") == "done" and st.get("moved", 0) > 0, \
            f"rebalance {st}; fills per the proxy {fills}\n{log_lines(p, 'rebalance')}"
        bk = Backends(weeds, backends)
        settle("one copy per provider, the moved originals deleted",
               lambda: copy_problems(bk.by_object(), sizes(objects), 2, label=provider.get), CLEANUP_WAIT_SECS, every=2)
        listed = {n: bk.used(n) / quota for n in provider}
        assert max(listed.values()) - min(listed.values()) <= 0.05 + 1e-9, f"fills after the rebalance: {listed}"
        check_all(p.s3, objects)
