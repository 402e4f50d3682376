"""The README's first hour, timed (Hardening issue, item 6): a fresh checkout in a temporary
directory, `make run` in the background until healthy with its sign-in URL (the UI is built in the
checkout; Python and npm packages are reused from this repo, see tests/new_user.py), then
`anime-studio demo` until its episode is published in the library folder, then Ctrl+C until make,
the server and the embedded PostgreSQL are gone. Prints each step's seconds.

value = 1 when a step failed, else 0 (goal <= 0); total_s is the time from checkout to shutdown.
Last line: JSON {"bench", "value", "goal", "ok", "seconds", "total_s"}."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.new_user import FirstHour, run_first_hour  # noqa: E402


def main() -> None:
    failure, result = None, FirstHour()
    with tempfile.TemporaryDirectory(prefix="first-hour-") as tmp:
        try:
            run_first_hour(Path(tmp), result=result)
        except AssertionError as exc:
            failure = str(exc)
    print(f"checkout: {result.checkout}")
    for name, seconds in result.seconds.items():
        print(f"  {name:22} {seconds:7.1f} s")
    print(f"FAILED: {failure[-3000:]}" if failure else f"episode published: {result.episode}")
    total = round(sum(result.seconds.values()), 1)
    print(json.dumps({"bench": "first_hour", "value": 1 if failure else 0, "goal": "<= 0", "ok": not failure,
                      "seconds": result.seconds, "total_s": total}))


if __name__ == "__main__":
    main()
