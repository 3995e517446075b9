"""`conchshell serve`: build the web app from the command line's settings and run it with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
from pathlib import Path

from conchshell.errors import ConchError


def commit_id() -> str:
    """The git commit of the working tree (with `+dirty` when it has changes), or 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; ConchError for unusable arguments."""
    import uvicorn

    from conchshell.web.app import Settings, create_app

    if not 0 < args.port < 65536:
        raise ConchError(f"--port: must be 1..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise ConchError(f"--max-upload-mb: must be > 0, got {args.max_upload_mb}")
    settings = Settings(
        models=Path(args.models),
        ratings=Path(args.ratings),
        samples=Path(args.samples),
        prepared=Path(args.prepared),
        params=Path(args.params),
        level=args.level,
        device=args.device,
        commit_id=commit_id(),
        max_upload_bytes=int(args.max_upload_mb * 2**20),
    )
    app = create_app(settings)
    if not _is_loopback(args.host):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use the app", file=sys.stderr)
    print(
        f"ConchShell: http://{args.host}:{args.port}/  (listening test: /listen, ratings → {args.ratings})",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
