"""Copy signals in a class: rare shared values are pairs, a class template's are not."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from tests.messy import Layout, make
from workbook_builder.check import audit
from workbook_builder.classroom import copies


def fp(name: str, **extra: str) -> dict[str, str]:
    base = {"file": f"bytes-{name}", "content": f"cells-{name}", "creator": name,
            "last_modified_by": name, "created": f"2026-10-{len(name):02d}T10:00:00"}
    return {**base, **extra}


def test_rare_shared_values_make_pairs_with_reasons() -> None:
    prints = {
        "ana.xlsx": fp("ana", file="same", **{"wrong ∂E/∂w3": "=R[0]C[-5]"}),
        "bo.xlsx": fp("bo", file="same", content="cells-ana"),
        "cy.xlsx": fp("cy", creator="Dee", last_modified_by="Dee",
                      created="2026-11-02T09:00:00"),
        "dee.xlsx": fp("dee", creator="Dee", last_modified_by="Dee",
                       created="2026-11-02T09:00:00", **{"wrong ∂E/∂w3": "=R[0]C[-5]"}),
        "eve.xlsx": fp("eve"),
    }
    pairs = {(p.a, p.b): p.reasons for p in copies.signals(prints)}
    assert pairs[("ana.xlsx", "bo.xlsx")] == ("byte-identical files",)
    assert any("same metadata" in r for r in pairs[("cy.xlsx", "dee.xlsx")])
    assert pairs[("ana.xlsx", "dee.xlsx")] == ("the same wrong formula for ∂E/∂w3: =R[0]C[-5]",)
    assert not any("eve.xlsx" in pair for pair in pairs)


def test_what_the_whole_class_shares_is_a_template_not_a_copy() -> None:
    template = {"creator": "Teacher", "last_modified_by": "Teacher",
                "created": "2026-09-01T08:00:00", "wrong ∂E/∂w3": "=R[0]C[-5]"}
    prints = {f"s{k}.xlsx": fp(f"s{k}", **template) for k in range(copies.RARE + 1)}
    assert copies.signals(prints) == []


def test_starters_share_their_metadata_by_design() -> None:
    meta = {"creator": copies.STARTER_AUTHOR, "last_modified_by": "x",
            "created": "2024-01-01T00:00:00"}
    assert copies.signals({"a.xlsx": fp("a", **meta), "b.xlsx": fp("b", **meta)}) == []


@pytest.fixture
def opener_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from formulas.excel import xlreader

    monkeypatch.setattr(xlreader, "load_workbook", xlreader.load_workbook)


def test_fingerprints_from_real_files(tmp_path: Path, opener_restored: None) -> None:
    """Two students with the same rare mistake and one student's file saved again by
    another (the same cells, new bytes): found from what audit records."""
    from formulas.excel import xlreader

    def mistake(r: int, first: int, f: dict[str, str]) -> None:
        f["E2"] = f["E2"].replace("0.5*", "")

    def other_mistake(r: int, first: int, f: dict[str, str]) -> None:
        f["E1"] = f["E1"].replace("0.5*", "0.25*")

    paths = {"a": make(tmp_path / "a.xlsx", Layout(edit=mistake)),
             "b": make(tmp_path / "b.xlsx", Layout(edit=mistake, eta=0.6)),
             "c": make(tmp_path / "c.xlsx", Layout(edit=other_mistake))}
    wb = openpyxl.load_workbook(paths["c"])
    wb.properties.lastModifiedBy = "someone else"
    wb.save(tmp_path / "d.xlsx")
    paths["d"] = tmp_path / "d.xlsx"
    prints = {}
    opener = xlreader.load_workbook
    for name, path in paths.items():
        (tmp_path / f"w{name}").mkdir()
        prints[name] = audit.audit(path, tmp_path / f"w{name}")[0].fingerprint
        xlreader.load_workbook = opener
    pairs = {(p.a, p.b): p.reasons for p in copies.signals(prints)}
    assert any("same wrong formula for E2" in r for r in pairs[("a", "b")])
    assert "the same cells (formulas and values) everywhere" in pairs[("c", "d")]
