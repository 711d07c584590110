"""Prompt file texts shared by the files tests."""

from __future__ import annotations

from typing import Any

from promptstage.domain.config import parse_config
from promptstage.domain.template import check_template, parse_variables
from promptstage.files.spec import PromptSpec

DOTPROMPT = """\
---
description: Books appointments
model: openai/gpt-4o
promptstage.modelVersion: "2024-08-06"
config:
  temperature: 0.2
  max_tokens: 300
input:
  schema:
    clinic: string
    question?: string, what the patient asks
tools: [find_slot]
toolDefs:
  - name: find_slot
    description: Finds a free slot
    inputSchema:
      type: object
      properties:
        day: {type: string}
---
{{role "system"}}
You book appointments for {{clinic}}.
{{role "user"}}
{{question}}
"""

PROMPTY_V1 = """\
---
name: booking
description: Books appointments
model:
  api: chat
  configuration:
    type: azure_openai
    azure_endpoint: https://example.openai.azure.com
    azure_deployment: gpt-4o
    api_key: sk-secret-never-imported
  parameters:
    temperature: 0.2
    max_tokens: 300
inputs:
  clinic:
    type: string
  question:
    type: string
sample:
  clinic: Vienna
metadata:
  promptstage:
    modelVersion: "2024-08-06"
---
system:
You book appointments for {{clinic}}.

user:
{{question}}
"""


def spec(
    type_: str = "chat",
    template: Any = None,
    variables: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    description: str | None = None,
) -> PromptSpec:
    """A normalized spec, with a chat booking prompt by default."""
    if template is None:
        template = (
            "Summarize {{text}}"
            if type_ == "text"
            else [
                {"role": "system", "content": "You book for {{clinic}}."},
                {"role": "user", "content": "{{question}}"},
            ]
        )
    if variables is None:
        variables = [{"name": n, "type": "string"} for n in ("clinic", "question", "text")]
    config = config or {
        "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
        "params": {"temperature": 0.2, "max_tokens": 300, "top_p": 0.9, "logprobs": True},
        "tools": [
            {
                "name": "find_slot",
                "description": "Finds a free slot",
                "parameters": {
                    "type": "object",
                    "properties": {"day": {"type": "string", "description": "ISO date"}},
                    "required": ["day"],
                },
            }
        ],
    }
    return PromptSpec(
        type_,
        check_template(type_, template),
        parse_variables(variables),
        parse_config(config),
        description,
    )
