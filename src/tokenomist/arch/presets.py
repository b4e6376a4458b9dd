"""Model presets shipped as data files, and resolution of a ``--model`` argument.

A model is named by a preset id (``llama-3.3-70b``), the Hugging Face repo id of a preset
(``meta-llama/Llama-3.3-70B-Instruct``), or a path to a ``config.json`` (or to a folder
holding one). Nothing is downloaded.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tokenomist.arch.hf_config import parse_config
from tokenomist.arch.spec import ModelArch
from tokenomist.errors import ConfigError, UnknownNameError


@cache
def _preset_files() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    folder = resources.files("tokenomist") / "data" / "models"
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            out[entry.name[: -len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return out


def preset_ids() -> list[str]:
    return sorted(_preset_files())


def preset_source(preset_id: str) -> dict[str, Any]:
    return dict(_preset_files()[preset_id].get("source", {}))


@cache
def _repo_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for pid, doc in _preset_files().items():
        src = doc.get("source", {})
        for repo in [src.get("hf_repo"), *src.get("aliases", [])]:
            if repo:
                index[str(repo).lower()] = pid
    return index


def known_model_names() -> list[str]:
    return preset_ids() + sorted({v for v in (d.get("source", {}).get("hf_repo")
                                             for d in _preset_files().values()) if v})


@cache
def load_preset(preset_id: str) -> ModelArch:
    doc = _preset_files()[preset_id]
    return parse_config(doc["config"], name=preset_id, source=f"preset {preset_id}",
                        hf_repo=doc.get("source", {}).get("hf_repo"))


def load_config_file(path: Path) -> ModelArch:
    """Load a ``config.json`` (or a folder containing one) from disk."""
    if path.is_dir():
        path = path / "config.json"
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, None,
                          f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})") from None
    name = path.parent.name or path.stem
    return parse_config(data, name=name, source=source)


def resolve_model(name: str) -> ModelArch:
    """Resolve a preset id, a preset's Hugging Face repo id, or a path to a config."""
    presets = _preset_files()
    key = name.strip()
    if key.lower() in presets:
        return load_preset(key.lower())
    repo = _repo_index().get(key.lower())
    if repo is not None:
        return load_preset(repo)
    path = Path(key).expanduser()
    if path.suffix == ".json" or path.exists() or ("/" in key and path.parent.exists()):
        if not path.exists():
            raise ConfigError(str(path), None, "file does not exist")
        return load_config_file(path)
    raise UnknownNameError("model", name, known_model_names())
