"""Voice benchmark: the time from a caller's `SpeechResult` reaching the service to the TwiML it answers,
without a model call (the offline answerer), over the demo help centre.

Run: .venv/bin/python benchmarks/voice_bench.py [--turns 200]

It also measures the Twilio messaging webhook (`POST /twilio/messages`, a signed SMS): the time to the
acknowledgement, once the message is stored; the answer is written in the background meanwhile.

Each turn is a signed Twilio Voice webhook (`POST /twilio/voice/turn`) for a new call, sent in-process to the
app (FastAPI's TestClient): signature check, form parsing, storing the turn, the agent's answer, storing it,
and the `<Say>`/`<Gather>` TwiML. In the same run it measures two baselines: the agent's answer alone
(`SupportAgent.reply`, the same questions) and `GET /healthz` through the same client (the HTTP overhead).
Questions are StackFAQ dev questions about the demo shop's topics and the demo questions of the tests,
each with a unique suffix so no answer comes from a cache. Medians and p95 printed with their ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import numpy as np
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from agent.agent import ConversationMemory
from frontdesk.app import create_app
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings

ACCOUNT, TOKEN, PUBLIC = "AC" + "0" * 32, "benchmark-auth-token-000000000000", "https://voice.example.test"
QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "knowledge" / "demo_questions.jsonl"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def questions(n: int) -> list[str]:
    base = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    return [f"{base[i % len(base)]} (caller {i})" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    validator = RequestValidator(TOKEN)
    asked = questions(args.turns)
    with tempfile.TemporaryDirectory(prefix="frontdesk-voice-bench-") as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp) / "data",
            public_base_url=PUBLIC,
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_sms_from="+15005550006",
            twilio_api_base_url="http://127.0.0.1:9",
        )
        with TestClient(create_app(settings)) as client:
            runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
            for question in asked[:5]:  # warm up: model, caches, code paths
                anyio.run(lambda q=question: runtime.agent.reply(q, ConversationMemory()))

            webhook: list[float] = []
            for i, question in enumerate(asked):
                action = f"{PUBLIC}/twilio/voice/turn?turn=1&silences=0&reasks=0&offered=0"
                form = {
                    "AccountSid": ACCOUNT,
                    "CallSid": f"CA{i:032d}",
                    "From": f"+1555{i:07d}",
                    "To": "+15005550006",
                    "CallStatus": "in-progress",
                    "SpeechResult": question,
                    "Confidence": "0.92",
                }
                headers = {"X-Twilio-Signature": validator.compute_signature(action, form)}
                path = urlsplit(action)
                start = time.perf_counter()
                response = client.post(f"{path.path}?{path.query}", data=form, headers=headers)
                webhook.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200 or "<Say" not in response.text:
                    msg = f"turn {i} answered {response.status_code}: {response.text[:300]}"
                    raise SystemExit(msg)

            agent_only: list[float] = []
            for i, question in enumerate(asked):
                start = time.perf_counter()
                anyio.run(lambda q=f"{question} again {i}": runtime.agent.reply(q, ConversationMemory()))
                agent_only.append((time.perf_counter() - start) * 1000)

            # An SMS reaching the messaging webhook: stored, then acknowledged (the answer follows in the
            # background, through the reply worker and the outbox, while the next message comes in).
            messaging: list[float] = []
            sms_url = f"{PUBLIC}/twilio/messages"
            for i, question in enumerate(asked):
                form = {
                    "AccountSid": ACCOUNT,
                    "MessageSid": f"SM{i:032d}",
                    "From": f"+1666{i:07d}",
                    "To": "+15005550006",
                    "Body": question,
                    "NumMedia": "0",
                }
                headers = {"X-Twilio-Signature": validator.compute_signature(sms_url, form)}
                start = time.perf_counter()
                response = client.post("/twilio/messages", data=form, headers=headers)
                messaging.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    msg = f"message {i} answered {response.status_code}: {response.text[:300]}"
                    raise SystemExit(msg)

            health: list[float] = []
            for _ in range(args.turns):
                start = time.perf_counter()
                client.get("/healthz")
                health.append((time.perf_counter() - start) * 1000)

    webhook_p50 = statistics.median(webhook)
    rows = [
        ("SpeechResult -> TwiML (webhook)", webhook),
        ("SMS webhook -> acknowledgement", messaging),
        ("baseline: agent answer alone", agent_only),
        ("baseline: GET /healthz", health),
    ]
    print(f"voice turns and SMS: {args.turns} each (offline answerer, demo help centre, no model call)")
    print(f"{'measure':36} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p50 ratio':>10}")
    for name, values in rows:
        p50 = statistics.median(values)
        print(f"{name:36} {p50:8.1f} {pct(values, 95):8.1f} {pct(values, 99):8.1f} {webhook_p50 / p50:10.2f}")


if __name__ == "__main__":
    main()
