"""``evolve llm``: serve and stop the embedded local model's llama.cpp server."""

from __future__ import annotations

from typing import Annotated

import typer

from evolve.cli.support import UserError, console, user_errors

llm_app = typer.Typer(no_args_is_help=True, help="The embedded local model (llama.cpp server).")
Port = Annotated[int, typer.Option(help="loopback port of the server")]


@llm_app.command("serve")
def llm_serve(model: Annotated[str, typer.Option(help="embedded model name")] = "",
              port: Port = 0, threads: Annotated[int, typer.Option(help="CPU threads")] = 0) -> None:
    """Run llama.cpp's OpenAI-compatible server for an embedded model in the foreground."""
    import os

    from evolve.llm.embedded import local_model, local_server

    with user_errors():
        name = model or local_model.DEFAULT_MODEL
        try:
            port = port or local_server.base_port() + local_model.rank(name)
            cmd = local_server.serve_command(name, port, threads or local_server.default_threads())
        except local_model.LocalModelError as exc:
            raise UserError(str(exc)) from None
        if local_server.port_open(port):
            raise UserError(f"port {port} is already in use: stop the server there "
                            f"(`evolve llm stop --port {port}`) or pass --port")
        console.print(f"serving {name} at {local_server.api_base(port)} (Ctrl-C stops)")
        os.execv(cmd[0], cmd)


@llm_app.command("stop")
def llm_stop(port: Port = 0) -> None:
    """Stop the background server that `evolve run` started."""
    from evolve.llm.embedded import local_model, local_server

    with user_errors():
        try:
            port = port or local_server.base_port()
        except local_model.LocalModelError as exc:
            raise UserError(str(exc)) from None
    stopped = local_server.stop_server(port)
    console.print(f"stopped the model server on port {port}" if stopped
                  else f"no background model server recorded for port {port}")
