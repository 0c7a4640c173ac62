"""The client's selector strategy (``selector=``, go-micro's ``MICRO_SELECTOR``): round-robin
alternates strictly between the two nodes of a service, random reaches both, a bad value is
refused, and the keyword wins over the variable.

The two services each have their own memory registry (a memory registry is one per
instance), so the client is given both addresses: its selector picks among them exactly as
among a service's registered nodes."""
import asyncio
import json
import os
import subprocess
import sys

import pytest

import micro
from conftest import SCRIPTS, run


def alternates(seen):
    return len(set(seen)) == 2 and all(a != b for a, b in zip(seen, seen[1:]))


def whoami(svc):
    """A handler answering with `svc`'s node id."""
    return lambda req: {"id": svc.id}


def two_services():
    svcs = [micro.Service("py.selector", registry="memory", address="127.0.0.1:0") for _ in range(2)]
    for svc in svcs:
        svc.handle("Who.Ami", whoami(svc))
    return svcs


def test_round_robin_alternates_and_random_reaches_both_services():
    async def main():
        svcs = two_services()
        for svc in svcs:
            await svc.start()
        try:
            addrs = [s.address for s in svcs]
            ids = {s.id for s in svcs}

            async def seen(c, n):
                return [(await c.call("py.selector", "Who.Ami", {}, address=addrs))["id"] for _ in range(n)]

            rr = await seen(micro.Client(registry="memory", selector="roundrobin"), 10)
            assert set(rr) == ids and alternates(rr), rr
            rnd = await seen(micro.Client(registry="memory", selector="random"), 100)
            assert set(rnd) == ids, rnd
            # SyncClient takes the same keyword (call_sync blocks: off the loop serving the calls).
            sc = micro.SyncClient(registry="memory", selector="roundrobin")
            sync = await asyncio.to_thread(
                lambda: [sc.call_sync("py.selector", "Who.Ami", {}, address=addrs)["id"] for _ in range(10)])
            assert alternates(sync), sync
        finally:
            for svc in svcs:
                await svc.stop()
    run(main())


def test_bad_selector_is_refused():
    with pytest.raises(ValueError, match=r'selector must be "random" or "roundrobin", got "fastest"') as e:
        micro.Client(registry="memory", selector="fastest")  # type: ignore[arg-type]
    assert isinstance(e.value, micro.BadRequest) and e.value.code == 400
    with pytest.raises(TypeError, match="selector must be 'random' or 'roundrobin', got int"):
        micro.SyncClient(registry="memory", selector=1)  # type: ignore[arg-type]


def selector_script(selector, calls, env_selector):
    env = {k: v for k, v in os.environ.items() if k != "MICRO_SELECTOR"}
    if env_selector is not None:
        env["MICRO_SELECTOR"] = env_selector
    out = subprocess.run([sys.executable, str(SCRIPTS / "selector.py"), selector, str(calls)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_selector_keyword_wins_over_micro_selector():
    # In child processes: the environment is read when a client is made.
    got = selector_script("roundrobin", 10, "random")
    assert set(got["seen"]) == set(got["ids"]) and alternates(got["seen"]), got
    got = selector_script("-", 10, "roundrobin")  # no keyword: the variable decides
    assert alternates(got["seen"]), got
    # random over roundrobin: 40 strictly alternating random picks would be a 1 in 2^39 chance
    got = selector_script("random", 40, "roundrobin")
    assert set(got["seen"]) == set(got["ids"]) and not alternates(got["seen"]), got
    got = selector_script("roundrobin", 0, "fastest")  # a bad variable is an error naming it
    assert got["type"] == "BadRequest" and "MICRO_SELECTOR" in got["error"], got
