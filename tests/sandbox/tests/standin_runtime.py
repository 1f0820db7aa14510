"""A tiny Lambda runtime client, used only to test the sandbox's Lambda host.

It speaks the Runtime API as the Rust `lambda_runtime` crate does. The event
says what to do: `{"do": "echo"}` answers the event, `"fail"` posts a function
error, `"exit"` exits with status 3 mid-invocation, `"sleep"` sleeps `seconds`.
`MARKER_DIR` (if set) gets one file per handled request id, so a test can tell
whether the function really ran. `INIT_FAIL=1` posts an init error and exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def post(path: str, body: dict[str, object]) -> None:
    data = json.dumps(body).encode()
    req = urllib.request.Request(f"{API}{path}", data=data, method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def main() -> None:
    if os.environ.get("INIT_FAIL") == "1":
        post("/init/error", {"errorType": "Runtime.ConfigError", "errorMessage": "bad config"})
        sys.exit(1)
    while True:
        with urllib.request.urlopen(f"{API}/invocation/next") as resp:
            request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
            assert resp.headers["Lambda-Runtime-Deadline-Ms"].isdigit()
            invoked = resp.headers["Lambda-Runtime-Invoked-Function-Arn"]
            assert invoked.startswith("arn:aws:lambda:")
            event = json.loads(resp.read())
        marker = os.environ.get("MARKER_DIR")
        if marker:
            open(os.path.join(marker, request_id), "w").close()
        action = event.get("do", "echo")
        if action == "exit":
            sys.exit(3)
        if action == "sleep":
            time.sleep(float(event.get("seconds", 1)))
        if action == "fail":
            post(f"/invocation/{request_id}/error", {"errorType": "JobFailed", "errorMessage": "the job failed"})
        else:
            post(f"/invocation/{request_id}/response", {"echo": event, "pid": os.getpid(), "invokedFunctionArn": invoked})


if __name__ == "__main__":
    main()
