"""``promptstage dev``: development aids that are not part of the product path."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .fake_behaviours import Behaviour

app = typer.Typer(help="Development aids (a local fake model server).", no_args_is_help=True)


@app.command("fake-model")
def fake_model(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8790,
    behaviour: Annotated[
        Behaviour, typer.Option(help="Default behaviour of every request.")
    ] = Behaviour.REFUSE,
    slow_seconds: Annotated[float, typer.Option(help="How long `slow` sleeps.")] = 2.0,
    retry_after: Annotated[
        str, typer.Option(help="Retry-After of `flaky-429`: seconds or an HTTP-date.")
    ] = "1",
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Accept only the key in this environment variable (default: any)."),
    ] = None,
    served_model: Annotated[
        str | None,
        typer.Option(
            help="Report this model in every answer (response.model) instead of the one asked "
            "for, to see drift detection at work (docs/dependencies.md)."
        ),
    ] = None,
) -> None:
    """Serve a scripted fake model on the OpenAI and Anthropic wire protocols.

    Point eval runs at it with PROMPTSTAGE_EVAL_OPENAI_BASE_URL=http://HOST:PORT/v1 or
    PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL=http://HOST:PORT; a model named fake-NAME or the
    header X-Fake-Behaviour picks another behaviour per request.
    """
    import uvicorn

    from .fake_model import fake_model_app

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise typer.BadParameter(f"the environment variable {api_key_env} is not set")
    app = fake_model_app(
        behaviour,
        slow_seconds=slow_seconds,
        retry_after=retry_after,
        api_key=api_key,
        served_model=served_model,
    )
    typer.echo(
        f"fake model ({behaviour.value}) on http://{host}:{port}: "
        f"OpenAI base URL http://{host}:{port}/v1, Anthropic base URL http://{host}:{port}"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
