"""Entry point: ``python -m workbook_builder``."""

from __future__ import annotations

from workbook_builder.cli.main import main

raise SystemExit(main())
