"""Drafts survive restarts, are per profile and pipeline, and go when discarded."""

from __future__ import annotations

from pathlib import Path

from console.config.drafts import NEW_PIPELINE, DraftStore


def test_draft_round_trip_per_profile_and_pipeline(tmp_path: Path) -> None:
    store = DraftStore(tmp_path)
    store.save("Prod", 7, "name: x\n", "yaml", 3)
    store.save("Prod", NEW_PIPELINE, '{"name": "y"}', "json", None)
    reopened = DraftStore(tmp_path)
    draft = reopened.load("Prod", 7)
    assert draft is not None
    assert (draft.text, draft.format, draft.base_revision) == ("name: x\n", "yaml", 3)
    assert reopened.load("Staging", 7) is None
    new = reopened.load("Prod", NEW_PIPELINE)
    assert new is not None
    assert new.format == "json"
    reopened.discard("Prod", 7)
    assert reopened.load("Prod", 7) is None
    reopened.discard("Prod", 7)  # discarding twice is fine


def test_profile_names_cannot_escape_the_draft_folder(tmp_path: Path) -> None:
    store = DraftStore(tmp_path / "drafts")
    store.save("../../etc", 1, "x", "yaml", None)
    assert all(tmp_path / "drafts" in p.parents for p in (tmp_path / "drafts").rglob("*.json"))
