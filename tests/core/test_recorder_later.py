"""Runs recorded after their answer went out (``Recorder.later``): one starts per turn of the loop,
and ``settled`` waits for them."""

from __future__ import annotations

import asyncio
import logging

from edgelearn.record.recorder import Recorder


def test_recordings_start_one_per_turn_of_the_loop_and_settled_waits_for_each():
    recorder = Recorder(None, lambda: None)  # later/settled touch neither the store nor the settings
    turns, started, finished = [0], {}, set()

    async def recording(run_id: str, release: asyncio.Event):
        started[run_id] = turns[0]  # its synchronous part: on the loop's thread, in this turn
        await release.wait()
        finished.add(run_id)

    async def main():
        loop = asyncio.get_running_loop()

        def tick():
            turns[0] += 1
            loop.call_soon(tick)

        tick()
        releases = {f"r{i}": asyncio.Event() for i in range(5)}
        for run_id, release in releases.items():
            recorder.later(run_id, recording(run_id, release))
        await asyncio.sleep(0.05)
        # five streams ended together: their preparations ran in five different turns, not in one
        assert sorted(started) == sorted(releases) and len(set(started.values())) == 5
        waiting = asyncio.create_task(recorder.settled("r3"))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # r3 is not recorded yet
        releases["r3"].set()
        await asyncio.wait_for(waiting, 5)
        assert finished == {"r3"}
        everything = asyncio.create_task(recorder.settled())
        for release in releases.values():
            release.set()
        await asyncio.wait_for(everything, 5)
        assert finished == set(releases) and recorder._later == {}
        await recorder.settled("unknown")  # nothing to wait for

    asyncio.run(main())


def test_a_failing_recording_is_logged_and_still_settles(caplog):
    recorder = Recorder(None, lambda: None)

    async def broken():
        raise RuntimeError("disk on fire")

    async def main():
        recorder.later("r1", broken())
        await asyncio.wait_for(recorder.settled("r1"), 5)

    with caplog.at_level(logging.ERROR, logger="edgelearn.record.recorder"):
        asyncio.run(main())
    assert "recording a run after its answer failed" in caplog.text and "disk on fire" in caplog.text
