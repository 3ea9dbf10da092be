"""JSON Schema of ``bot.yaml`` (``qunbot config schema``), for editors.

Profile and group sections are kept as written by the models (they are
validated once merged), so their schema is added here from
:data:`bot.config.sections.SECTIONS`: every section model's fields have
defaults, so the section's own schema fits a partial override as well.
"""

from __future__ import annotations

from typing import Any

from bot.config.schema import BotConfig, GroupConfig, ProfileConfig
from bot.config.sections import SECTIONS


def config_json_schema() -> dict[str, Any]:
    """JSON schema of ``bot.yaml`` (for editors: yaml-language-server)."""
    schema = BotConfig.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    refs: dict[str, Any] = {}
    for key, model in SECTIONS.items():
        part = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(part.pop("$defs", {}))
        defs[model.__name__] = part
        refs[key] = {"$ref": f"#/$defs/{model.__name__}"}
    for layer in (ProfileConfig, GroupConfig):
        entry = defs[layer.__name__]
        entry.setdefault("properties", {}).update(refs)
        entry["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qunbot bot.yaml"
    return schema
