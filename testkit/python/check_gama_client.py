#!/usr/bin/env python3
"""Does a gama-server answer the real PyPI gama-client the way GAMA does?

gama-vr-relay's tests run this against the project's fake gama-server (desktop and headless modes)
and against the relay's own gama-server endpoint for tools. Every command gama-client can send is
sent once through its awaitable API; each answer must be correlated (gama-client resolves it by the
`api_id` inside `command`), carry a known message type, and echo under `command` exactly the object
gama-client put on the wire: no field lost, none added.

With `--own-experiments-only` (gama-headless, where each experiment has its own id), every message
gama-server sent unasked must belong to an experiment this client loaded: nothing of anybody else's.

Output: one JSON object per line, `{"check": name, "ok": bool, "detail": text}`, then
`{"passed": n, "failed": m}`. Exit status 0 when nothing failed.

    python check_gama_client.py --port 6868 [--host 127.0.0.1] [--timeout 5] [--finish exit|close]
                               [--own-experiments-only]
"""

import argparse
import asyncio
import json
import sys

from gama_client.message_types import MessageTypes
from gama_client.sync_client import GamaSyncClient

KNOWN_TYPES = {t.value for t in MessageTypes}


class WireLog:
    """Wraps gama-client's socket and keeps every command it sends, as sent, by api_id."""

    def __init__(self, socket):
        self._socket = socket
        self.sent = {}
        self.untagged = []

    def __getattr__(self, name):
        return getattr(self._socket, name)

    async def send(self, text):
        command = json.loads(text)
        if "api_id" in command:
            self.sent[command["api_id"]] = command
        else:
            self.untagged.append(command)
        await self._socket.send(text)


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def add(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(json.dumps({"check": name, "ok": bool(ok), "detail": str(detail)[:500]}), flush=True)


async def main(args):
    report = Report()
    uncorrelated = []
    unsolicited = []

    async def on_uncorrelated(message):
        uncorrelated.append(message)

    async def on_unsolicited(message):
        unsolicited.append(message)

    client = GamaSyncClient(args.host, args.port, on_uncorrelated, on_unsolicited,
                            default_timeout=args.timeout)
    try:
        await asyncio.wait_for(client.connect_awaitable(), args.timeout)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the verdict
        report.add("connect", False, f"{type(e).__name__}: {e}")
        return report
    usable = isinstance(client.socket_id, str) and client.socket_id not in ("", "-1")
    report.add("connect", usable, f"socket_id={client.socket_id!r}")
    if not usable:
        return report
    wire = WireLog(client.socket)
    client.socket = wire

    async def run(name, call, expect="CommandExecutedSuccessfully", also=None):
        try:
            answer = await call()
        except Exception as e:  # noqa: BLE001 - a timeout means the answer was not correlated
            report.add(name, False, f"{type(e).__name__}: {e}")
            return {}
        problems = []
        if not isinstance(answer, dict):
            problems.append("the answer is not a JSON object")
            answer = {}
        if answer.get("type") not in KNOWN_TYPES:
            problems.append(f"unknown type {answer.get('type')!r}")
        if expect and answer.get("type") != expect:
            problems.append(f"type {answer.get('type')!r}, expected {expect!r}")
        echoed = answer.get("command")
        sent = wire.sent.get(echoed.get("api_id")) if isinstance(echoed, dict) else None
        if sent is None:
            problems.append("no command echoed with the api_id gama-client sent")
        elif echoed != sent:
            extra = sorted(set(echoed) - set(sent))
            missing = sorted(set(sent) - set(echoed))
            problems.append(f"the echoed command differs from what was sent "
                            f"(added {extra}, lost {missing})")
        if not problems and also is not None:
            problem = also(answer)
            if problem:
                problems.append(problem)
        report.add(name, not problems, "; ".join(problems) or json.dumps(answer)[:300])
        return answer

    model, experiment = args.model, args.experiment
    loaded = await run(
        "load",
        lambda: client.load_awaitable(model, experiment, console=False, status=False, runtime=True,
                                      parameters=[{"type": "int", "name": "nb", "value": 3}],
                                      until="cycle > 10", additional_data={"lesson": "flood"}),
        also=lambda a: None if "content" in a else "no content (the experiment id)")
    exp_id = str(loaded.get("content", "0"))
    if exp_id == experiment:
        # GAMA's desktop server answers `load` with the experiment's name before the experiment is
        # built: a client waits for its status before using it (gama-headless answers once built).
        deadline = asyncio.get_running_loop().time() + args.timeout
        while asyncio.get_running_loop().time() < deadline and not any(
                m.get("type") == "SimulationStatus" and m.get("content") in ("PAUSED", "RUNNING")
                for m in unsolicited):
            await asyncio.sleep(0.02)
    await run("play", lambda: client.play_awaitable(exp_id, additional_data={"seat": 7}))
    await run("pause", lambda: client.pause_awaitable(exp_id))
    await run("step", lambda: client.step_awaitable(exp_id, nb_step=3, sync=True))
    await run("stepBack", lambda: client.step_back_awaitable(exp_id))
    await run("expression", lambda: client.expression_awaitable(exp_id, "cycle"),
              also=lambda a: None if "content" in a else "no content")
    await run("ask", lambda: client.ask_awaitable(exp_id, "create_player", {"id": "Player_7"},
                                                  "simulation"))
    await run("validate", lambda: client.validate_awaitable("1 + 1", syntax=True, escaped=False))
    await run("describe", lambda: client.describe_awaitable(model))
    await run("reload", lambda: client.reload_awaitable(
        exp_id, parameters=[{"type": "int", "name": "nb", "value": 4}]))
    await run("upload", lambda: client.upload_awaitable("/tmp/relay-check.txt", "hello"))
    await run("download", lambda: client.download_awaitable("/tmp/relay-check.txt"))
    await run("stop", lambda: client.stop_awaitable(exp_id))
    await run("an unknown experiment is refused, still correlated",
              lambda: client.play_awaitable("no-such-experiment"), expect=None,
              also=lambda a: None if a.get("type") != "CommandExecutedSuccessfully"
              else "a play of an unknown experiment succeeded")

    # Without api_id, the answer goes to the uncorrelated handler, additional data included.
    await client.load_async(model, experiment, additional_data={"batch": "b-1"})
    deadline = asyncio.get_running_loop().time() + args.timeout
    while asyncio.get_running_loop().time() < deadline:
        if any(m.get("command", {}).get("batch") == "b-1" for m in uncorrelated):
            break
        await asyncio.sleep(0.05)
    answered = [m for m in uncorrelated if m.get("command", {}).get("batch") == "b-1"]
    report.add("an untagged command's answer carries its own fields",
               len(answered) == 1 and answered[0]["command"] == wire.untagged[-1],
               json.dumps(answered)[:300])
    if args.own_experiments_only:
        own = {exp_id} | {str(m.get("content")) for m in answered}
        foreign = [m for m in unsolicited if m.get("exp_id") is not None and str(m.get("exp_id")) not in own]
        report.add("unasked messages are of this client's experiments only", not foreign,
                   f"{len(unsolicited)} unasked, of others: " + json.dumps(foreign)[:300])

    if args.finish == "exit":
        await client.exit_async()
        await asyncio.sleep(0.2)
    await client.close_connection_async()
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--model", default="/tmp/relay-check/model.gaml")
    parser.add_argument("--experiment", default="vr_xp")
    parser.add_argument("--finish", choices=["close", "exit"], default="close",
                        help="end with a plain close, or with gama-client's exit command first")
    parser.add_argument("--own-experiments-only", action="store_true",
                        help="fail on an unasked message of an experiment this client did not load")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps({"passed": result.passed, "failed": result.failed}), flush=True)
    sys.exit(1 if result.failed else 0)
