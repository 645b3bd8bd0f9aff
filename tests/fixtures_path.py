"""Where the shared real recorded fixtures live (../shared beside the repository)."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"; FIXTURES = SHARED / "fixtures"  # noqa: E702
