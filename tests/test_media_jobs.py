"""Media jobs under hostile uploads: frame caps, deadlines, fair turns, a bounded line,
recycled workers, and a SIGTERM that does not wait for a long transcode."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from tornado.httpclient import AsyncHTTPClient

from tests import mediafiles
from tests.conftest import Api, register
from tests.serverproc import ServerProcess
from tests.test_uploads import upload


def small_png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "PNG")
    return out.getvalue()


async def wait_until(check, timeout: float = 20.0) -> None:
    """Poll a condition that has no event to wait on (a queue length, the process table)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def overrides(**values):
    return pytest.mark.parametrize("settings_overrides", [values])


@overrides(image_max_frames=1000)
@pytest.mark.gen_test(timeout=30)
async def test_a_gif_of_thousands_of_frames_is_refused_with_413_before_decoding(
    settings_overrides, api, http_client, base_url
):
    ann = await register(api, "Ann")
    status, env = await upload(http_client, base_url, ann.token, mediafiles.many_frame_gif(5000))
    assert status == 413, env
    assert env["msg"] == "animation has more than 1,000 frames"
    # An animation within the cap is still fine.
    status, env = await upload(http_client, base_url, ann.token, mediafiles.animated_gif(4))
    assert status == 200 and env["data"]["mime"] == "image/gif"


@overrides(media_job_timeout=1.0, image_max_frames=100_000, media_threads=1)
@pytest.mark.gen_test(timeout=30)
async def test_a_job_past_the_timeout_is_killed_with_a_clear_error_and_the_next_upload_works(
    settings_overrides, api, http_client, base_url, ctx
):
    ann = await register(api, "Ann")
    slow = mediafiles.many_frame_gif(3000)  # seconds of decoding, far past 1 s
    status, env = await upload(http_client, base_url, ann.token, slow)
    assert status == 413, env
    assert env["msg"] == "this file took too long to process (over 1 s)"
    assert ctx.pools.media_procs.pids() == []  # the worker was killed, not left running
    status, env = await upload(http_client, base_url, ann.token, small_png())
    assert status == 200, env
    assert (env["data"]["width"], env["data"]["height"]) == (32, 32)


@overrides(media_threads=1, image_max_frames=100_000)
@pytest.mark.gen_test(timeout=60)
async def test_one_users_queued_uploads_do_not_hold_another_users_photo(
    settings_overrides, api, http_client, base_url, ctx
):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    gif = mediafiles.many_frame_gif(250)
    done: list[str] = []

    def track(name: str, coro) -> asyncio.Future:
        future = asyncio.ensure_future(coro)
        future.add_done_callback(lambda f: done.append(name))
        return future

    anns = [track(f"ann{i}", upload(http_client, base_url, ann.token, gif)) for i in range(1, 4)]
    await wait_until(lambda: ctx.pools.media_jobs == 3)  # one running, two waiting
    bobs = track("bob1", upload(http_client, base_url, bob.token, small_png()))
    results = await asyncio.gather(*anns, bobs)
    assert all(status == 200 for status, _ in results), results
    # Bob's first upload goes before Ann's second, though hers were queued first. Which of
    # Ann's three reached the queue first is up to the network, so count hers as they end.
    ann_done = [name for name in done if name.startswith("ann")]
    assert done.index("bob1") < done.index(ann_done[1]), done


@overrides(media_threads=2, image_max_frames=100_000)
@pytest.mark.gen_test(timeout=60)
async def test_one_user_never_holds_every_worker(settings_overrides, api, http_client, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    gif = mediafiles.many_frame_gif(600)
    anns = [asyncio.ensure_future(upload(http_client, base_url, ann.token, gif)) for _ in range(2)]
    await wait_until(lambda: ctx.pools.media_jobs == 2)
    # Her second waits, so one worker stays free: Bob's photo starts at once and is done
    # while her first animation still decodes.
    assert (await upload(http_client, base_url, bob.token, small_png()))[0] == 200
    assert not any(a.done() for a in anns)
    assert ctx.pools.media_procs.running == 1
    assert [status for status, _ in await asyncio.gather(*anns)] == [200, 200]


@overrides(media_threads=1, image_max_frames=100_000, media_queue=1)
@pytest.mark.gen_test(timeout=60)
async def test_a_full_media_queue_answers_503_at_once(settings_overrides, api, http_client, base_url, ctx):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    gif = mediafiles.many_frame_gif(250)
    anns = [asyncio.ensure_future(upload(http_client, base_url, ann.token, gif)) for _ in range(2)]
    await wait_until(lambda: ctx.pools.media_jobs == 2)  # one running, one waiting: full
    status, env = await upload(http_client, base_url, bob.token, small_png())
    assert status == 503 and "busy" in env["msg"], env
    assert not all(a.done() for a in anns), "the line emptied first: the test proved nothing"
    assert [status for status, _ in await asyncio.gather(*anns)] == [200, 200]


@overrides(media_threads=1, image_max_frames=100_000, media_queue_per_user=1)
@pytest.mark.gen_test(timeout=60)
async def test_one_user_may_have_only_so_many_uploads_waiting(
    settings_overrides, api, http_client, base_url, ctx
):
    ann, bob = await register(api, "Ann"), await register(api, "Bob")
    gif = mediafiles.many_frame_gif(250)
    anns = [asyncio.ensure_future(upload(http_client, base_url, ann.token, gif)) for _ in range(2)]
    await wait_until(lambda: ctx.pools.media_jobs == 2)  # one running, one of hers waiting
    status, env = await upload(http_client, base_url, ann.token, small_png())
    assert status == 429 and "wait for them" in env["msg"], env
    # Someone else is not held to her allowance.
    assert (await upload(http_client, base_url, bob.token, small_png()))[0] == 200
    assert [status for status, _ in await asyncio.gather(*anns)] == [200, 200]


@overrides(media_threads=1, media_worker_jobs=2)
@pytest.mark.gen_test(timeout=30)
async def test_a_media_worker_is_replaced_after_n_jobs(settings_overrides, api, http_client, base_url, ctx):
    ann = await register(api, "Ann")
    workers = ctx.pools.media_procs
    assert (await upload(http_client, base_url, ann.token, small_png()))[0] == 200
    [first] = workers.pids()
    assert (await upload(http_client, base_url, ann.token, small_png()))[0] == 200
    assert workers.pids() == []  # retired after its second job
    assert (await upload(http_client, base_url, ann.token, small_png()))[0] == 200
    [second] = workers.pids()
    assert second != first


@overrides(media_threads=1, media_worker_rss_mb=16)
@pytest.mark.gen_test(timeout=30)
async def test_a_media_worker_that_grew_past_the_memory_bound_is_replaced(
    settings_overrides, api, http_client, base_url, ctx
):
    ann = await register(api, "Ann")
    status, _ = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    assert status == 200
    assert ctx.pools.media_procs.pids() == []  # any worker is above 16 MB after decoding


# -- a real `python -m server` and SIGTERM ----------------------------------------------


def _parents() -> dict[int, int]:
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # zombies are gone in all but name
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def long_wav(tmp_path: Path, seconds: float) -> bytes:
    """Ten minutes of tone as 8 kHz WAV: under 10 MB, yet seconds of MP3 encoding."""
    out = tmp_path / "long.wav"
    tone = f"sine=frequency=440:duration={seconds}"
    cmd = [mediafiles.FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", tone,
           "-ar", "8000", "-ac", "1", "-c:a", "pcm_s16le", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60)
    return out.read_bytes()


def mp3_encoder(pid: int) -> bool:
    """Is this pydub's ffmpeg export to MP3 (the long part of a voice job)?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return "ffmpeg" in argv[0].decode() and b"mp3" in argv


@pytest.mark.slow
@pytest.mark.gen_test(timeout=90)
async def test_sigterm_kills_a_long_transcode_and_its_ffmpeg_and_exits_0_at_once(tmp_path, io_loop):
    clip = long_wav(tmp_path, 600.0)
    server = ServerProcess(
        tmp_path, None, "--voice-max-seconds", "900", "--media-stop-grace", "0.5"
    ).start()  # fmt: skip
    try:
        client = AsyncHTTPClient()
        ann = await register(Api(client, server.base_url), "Ann")
        transcode = asyncio.ensure_future(upload(client, server.base_url, ann.token, clip))
        await wait_until(lambda: any(mp3_encoder(p) for p in descendants(server.proc.pid)), timeout=30)
        children = descendants(server.proc.pid)  # forkserver, worker, ffmpeg, resource tracker
        # Encoding ten minutes takes several seconds more; systemd waits 15 s at most.
        assert await asyncio.get_running_loop().run_in_executor(None, server.terminate, 5.0) == 0
        await wait_until(lambda: not children & set(_parents()), timeout=5)
        result = await asyncio.gather(transcode, return_exceptions=True)
        # The upload got a 503 or its connection was closed; never a stored half file.
        assert isinstance(result[0], Exception) or result[0][0] in (503, 599), result
    finally:
        server.stop()
