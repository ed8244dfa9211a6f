"""``vani run bot.py`` and ``vani serve``: the server's commands. See ``docs/server.md``.

Only argparse at import time: the server's stack loads when a command runs.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vani.server.config import ServerConfig

__all__ = ["add_subparsers"]


def _origins(text: str) -> list[str]:
    return [o.strip() for o in text.split(",") if o.strip()]


def _server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    group.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes sharing the port, each with its own calls and models"
        " (default: the number of CPUs this process may use)",
    )
    group.add_argument(
        "--max-calls",
        type=int,
        default=100,
        help="calls at once in this process; above it /start answers 503 and sockets close"
        " with 1013 (default 100)",
    )
    group.add_argument(
        "--secret",
        default=None,
        help="the token secret shared by every instance (default: $VANI_SECRET, else one"
        " generated for this process)",
    )
    group.add_argument(
        "--allowed-origins",
        type=_origins,
        default=None,
        metavar="ORIGINS",
        help="comma-separated browser origins allowed to start calls, or '*' (default: the"
        " server's own origin and pages on this machine)",
    )
    group.add_argument(
        "--token-ttl", type=float, default=300.0, help="seconds a /start token is valid (300)"
    )
    group.add_argument(
        "--no-token",
        action="store_true",
        help="let sockets in without a token (development only)",
    )
    group.add_argument(
        "--public-url",
        default=None,
        help="the ws:// or wss:// base URL /start hands out, behind a proxy (default: from"
        " the request's Host)",
    )
    group.add_argument(
        "--session-timeout",
        type=float,
        default=3600.0,
        metavar="SECS",
        help="the longest a call may last before the server ends it (default 3600; 0: no limit)",
    )
    group.add_argument(
        "--client",
        default="vani",
        metavar="CLIENT",
        help="the web client at /: 'vani' (default), 'pipecat' (Pipecat's prebuilt client, from"
        " the pipecat-ai-prebuilt package: choose WebSocket in its menu) or a directory",
    )
    group.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="on SIGTERM, seconds to let calls in progress finish before ending them (300)",
    )
    group.add_argument(
        "--report-dir",
        default=os.environ.get("VANI_REPORT_DIR"),
        help="write each call's session report (JSON) here (default: $VANI_REPORT_DIR, or none)",
    )
    group.add_argument(
        "--record",
        action="store_true",
        help="with --report-dir: also write each call's stereo WAV (caller left, bot right)",
    )
    group.add_argument(
        "--no-metrics", action="store_true", help="do not serve Prometheus metrics at /metrics"
    )
    group.add_argument(
        "--max-message-bytes",
        type=int,
        default=1 << 20,
        help="largest WebSocket message accepted; larger closes with 1009 (default 1 MiB)",
    )


def _config(args: argparse.Namespace) -> ServerConfig:
    from vani.observability.logs import use_session_format
    from vani.server.clients import client_dir

    use_session_format()  # every log line names its call
    from vani.server.config import ServerConfig
    from vani.server.workers import usable_cores

    return ServerConfig(
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers is not None else usable_cores(),
        drain_timeout_secs=args.drain_timeout,
        report_dir=args.report_dir,
        record_calls=args.record,
        metrics_enabled=not args.no_metrics,
        max_calls=args.max_calls,
        secret=args.secret,
        allowed_origins=args.allowed_origins,
        token_ttl_secs=args.token_ttl,
        require_token=not args.no_token,
        public_url=args.public_url,
        max_message_bytes=args.max_message_bytes,
        session_timeout_secs=args.session_timeout or None,
        static_dir=str(client_dir(args.client)),
    )


def _client_hint(args: argparse.Namespace) -> None:
    if args.client == "pipecat":
        print(
            "vani: serving Pipecat's prebuilt client: choose WebSocket in its transport menu,"
            " then Connect (for the microphone it loads Daily's call-machine bundle from Daily's"
            " CDN, so the browser needs internet access; docs/browser.md)",
            flush=True,
        )


def _run(args: argparse.Namespace) -> int:
    from vani.server.loader import load_bot
    from vani.server.serve import serve

    config = _config(args)
    _client_hint(args)
    bot = load_bot(args.bot)
    serve(bot, config, name=args.bot)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from vani.server.demo_bot import DemoBotOptions, make_demo_bot, warm_up
    from vani.server.serve import serve

    config = _config(args)
    _client_hint(args)
    if args.database:
        return _serve_database(config)
    options = DemoBotOptions(
        offline=args.offline,
        llm_base_url=args.llm_base_url,
        llm_model=args.llm_model,
        sarvam_stt_url=args.sarvam_stt_url,
        sarvam_tts_url=args.sarvam_tts_url,
    )
    bot, engines = make_demo_bot(options)
    print(f"vani serve: the pizza-shop demo bot ({engines})", flush=True)
    serve(bot, config, name="the demo bot", warm_up=lambda: warm_up(options))
    return 0


def _serve_database(config: ServerConfig) -> int:
    """``vani serve --database``: the restaurant bot of ``docs/database.md`` over
    ``$DATABASE_URL`` (engines from the environment, as ``examples/restaurant_db_bot.py``)."""
    from vani.errors import ConfigurationError
    from vani.server.serve import serve

    if not os.environ.get("DATABASE_URL"):
        raise ConfigurationError(
            "--database needs DATABASE_URL (Postgres with pgvector); load the example data"
            " once with: python -m vani.tools.postgres.example $DATABASE_URL"
        )
    from vani.tools.postgres.example import restaurant_bot

    print("vani serve: the restaurant bot, answering from $DATABASE_URL", flush=True)
    serve(restaurant_bot, config, name="the restaurant database bot")
    return 0


def add_subparsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` and ``serve`` to the ``vani`` command."""
    run = subparsers.add_parser(
        "run",
        help="serve your bot file over WebSocket",
        description=(
            "Serve BOT (a Python file defining `async def bot(session)`) to Pipecat-compatible"
            " clients: POST /start for a token, then a WebSocket on /ws. See docs/server.md."
        ),
    )
    run.add_argument("bot", help="the bot file")
    _server_options(run)
    run.set_defaults(func=_run)

    serve = subparsers.add_parser(
        "serve",
        help="serve the demo voice bot over WebSocket",
        description=(
            "Serve the pizza-shop demo bot (Silero VAD, Whisper, a scripted dialogue with a tool"
            " call, Piper: all on this machine). With OPENAI_API_KEY (or --llm-base-url) the"
            " dialogue comes from an OpenAI-compatible LLM; with SARVAM_API_KEY speech goes"
            " through Sarvam."
        ),
    )
    _server_options(serve)
    engines = serve.add_argument_group("engines")
    engines.add_argument(
        "--offline", action="store_true", help="ignore API keys and run everything locally"
    )
    engines.add_argument(
        "--llm-base-url",
        default=os.environ.get("VANI_LLM_BASE_URL"),
        help="any OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1)",
    )
    engines.add_argument("--llm-model", default=None, help="the model to ask for")
    engines.add_argument(
        "--sarvam-stt-url", default=None, help="Sarvam STT base URL (a proxy, or a test fake)"
    )
    engines.add_argument(
        "--sarvam-tts-url", default=None, help="Sarvam TTS base URL (a proxy, or a test fake)"
    )
    engines.add_argument(
        "--database",
        action="store_true",
        help="serve the restaurant bot that answers from the Postgres database at"
        " $DATABASE_URL instead (vani[db]; see docs/database.md)",
    )
    serve.set_defaults(func=_serve)
