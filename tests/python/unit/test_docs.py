"""Drift guard for docs/settings.md: regenerated from the settings table, it must match the
committed file (scripts/gen_settings_doc.py renders it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ferrule.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_settings_doc.py"
DOC = ROOT / "docs" / "settings.md"


def load_script():
    spec = importlib.util.spec_from_file_location("gen_settings_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_doc_is_up_to_date() -> None:
    rendered = load_script().render()
    assert DOC.read_text(encoding="utf-8") == rendered, (
        "docs/settings.md is stale; run: python scripts/gen_settings_doc.py"
    )


def test_settings_doc_describes_every_setting_with_its_spellings() -> None:
    text = DOC.read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"\n### {setting.name}\n" in text
        assert f"`{setting.env}`" in text
        for flag in setting.flags + setting.gunicorn:
            assert f"`{flag}`" in text
