"""The staff web console (issue 16): Starlette + Jinja2, server-rendered, on the same
services as the chat and the CLI."""
