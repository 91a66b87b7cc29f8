"""The comparison of scripts/bench-chat.sh (issue 14): a Slack Bolt for Python app answering
`/ott status EVENT`, as a team would write it with Bolt, in Bolt's fastest HTTP setup.

- `AsyncApp` with request signature verification on (Bolt's default): the signing secret
  comes from SLACK_SIGNING_SECRET, and a request whose `X-Slack-Signature` does not match or
  whose timestamp is more than 5 minutes off is refused with 401.
- It never calls Slack. AsyncApp has no `token_verification_enabled` (sync `App` only; even
  there it only moves the `auth.test` call from start-up to the first request), so instead of
  a bot token it gets an `authorize` function returning a constant result, Bolt's documented
  way to bring one's own authorization: no `auth.test`, no network.
- `process_before_response=True`: the listener runs inline and its `ack()` is the HTTP
  response. With Bolt's default (False) the listener runs as a task and the request waits for
  its `ack()` in a 10 ms polling loop (slack_bolt/listener/asyncio_runner.py), which puts every
  response 10 ms or more late; BOLT_PROCESS_BEFORE_RESPONSE=0 measures that default.
- Two ASGI entry points for uvicorn, the same app behind each:
  `bolt_app:starlette_app`, a Starlette app routing POST /slack/commands to
  `slack_bolt.adapter.starlette.async_handler.AsyncSlackRequestHandler`, and
  `bolt_app:asgi_app`, Bolt's own ASGI adapter
  (`slack_bolt.adapter.asgi.async_handler.AsyncSlackRequestHandler`, no framework).

Run: SLACK_SIGNING_SECRET=... uvicorn --workers 2 --no-access-log bolt_app:asgi_app
"""

import os

from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler as AsgiHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler as StarletteHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route


async def authorize(enterprise_id, team_id, user_id, **_):
    return AuthorizeResult(
        enterprise_id=enterprise_id,
        team_id=team_id,
        user_id=user_id,
        bot_id="B0BENCH01",
        bot_user_id="U0BENCHBOT",
        bot_token="xoxb-bench-never-used",
    )


app = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    authorize=authorize,
    process_before_response=os.environ.get("BOLT_PROCESS_BEFORE_RESPONSE", "1") != "0",
)


@app.command("/ott")
async def ott(ack, command):
    words = command.get("text", "").split()
    if len(words) == 2 and words[0] == "status":
        await ack(text=f"{words[1]}: not deployed")
    else:
        await ack(text="usage: /ott status EVENT")


asgi_app = AsgiHandler(app, path="/slack/commands")

_starlette_handler = StarletteHandler(app)


async def slack_commands(req: Request):
    return await _starlette_handler.handle(req)


starlette_app = Starlette(routes=[Route("/slack/commands", endpoint=slack_commands, methods=["POST"])])
