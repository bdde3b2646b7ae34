"""Entry point: ``python -m workbook_builder``."""

from __future__ import annotations

from workbook_builder.cli import main

raise SystemExit(main())
