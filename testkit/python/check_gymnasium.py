#!/usr/bin/env python3
"""Trains nothing, but does everything a training run does with the real PyPI gama-gymnasium.

gama-vr-relay's tests run this once directly against the project's fake gama-server and once through
the relay's endpoint for tools, and compare the two reports: the environment made with
`gymnasium.make`, its spaces, each reset and step (observation, reward, termination, info), then
`env.close()`, which only closes the socket (gama-gymnasium never sends `stop`).

Output: one JSON object on the last line:
  {"experiment_id", "observation_space", "action_space", "episodes": [{"reset": {...},
   "steps": [{"action", "obs", "reward", "terminated", "truncated", "info", "seconds"}]}],
   "unsolicited": [{"type", "exp_id", "content"}], "seconds_to_spaces"}
or {"error": text} with exit status 1.

    python check_gymnasium.py --port P --model /abs/gym_walk.gaml --experiment gym_xp
        [--host 127.0.0.1] [--actions 1,1,0,1] [--episodes 2] [--seed 7]
"""

import argparse
import asyncio
import json
import sys
import time
import traceback

import gymnasium
import gama_gymnasium  # registers gama_gymnasium_env/GamaEnv-v0
from gama_gymnasium.gama_client_wrapper import GamaClientWrapper

# What GAMA sent this tool unasked: gama-gymnasium prints it; the report keeps it instead.
UNSOLICITED = []


async def record_server_message(self, message):
    UNSOLICITED.append(
        {
            "type": message.get("type"),
            "exp_id": message.get("exp_id"),
            "content": str(message.get("content"))[:120],
        }
    )


async def record_async_answer(self, message):
    UNSOLICITED.append({"type": "answer without api_id", "exp_id": None, "content": str(message)[:120]})


GamaClientWrapper._server_message_handler = record_server_message
GamaClientWrapper._async_command_handler = record_async_answer


def plain(value):
    """numpy values as JSON-friendly Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def main(args):
    started = time.monotonic()
    env = gymnasium.make(
        "gama_gymnasium_env/GamaEnv-v0",
        gaml_experiment_path=args.model,
        gaml_experiment_name=args.experiment,
        gama_ip_address=args.host,
        gama_port=args.port,
    )
    report = {
        "experiment_id": env.unwrapped.experiment_id,
        "observation_space": repr(env.observation_space),
        "action_space": repr(env.action_space),
        "seconds_to_spaces": time.monotonic() - started,
        "episodes": [],
    }
    actions = [int(a) for a in args.actions.split(",") if a]
    for episode in range(args.episodes):
        obs, info = env.reset(seed=args.seed + episode)
        record = {"reset": {"obs": plain(obs), "info": plain(info)}, "steps": []}
        for action in actions:
            began = time.monotonic()
            obs, reward, terminated, truncated, info = env.step(action)
            record["steps"].append(
                {
                    "action": action,
                    "obs": plain(obs),
                    "reward": plain(reward),
                    "terminated": bool(terminated),
                    "truncated": bool(truncated),
                    "info": plain(info),
                    "seconds": time.monotonic() - began,
                }
            )
            if terminated or truncated:
                break
        report["episodes"].append(record)
    env.close()
    # Frames that were on their way when the socket closed are not the tool's any more.
    report["unsolicited"] = list(UNSOLICITED)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--actions", default="1,1,0,1,1,1")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    try:
        asyncio.run(main(args))
    except BaseException as e:  # a report, whatever went wrong
        print(json.dumps({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}), flush=True)
        sys.exit(1)
