"""Widget routes: the demo page (`GET /`), the embeddable widget (`GET /widget.js`) and the demo
page's other assets, all files of api/static.

    <script src="https://your-host/widget.js" data-endpoint="https://your-host" defer></script>
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from starlette.convertors import Convertor, register_url_convertor

STATIC_DIR = Path(__file__).resolve().parent / "static"


class _AssetConvertor(Convertor[str]):
    """Names of the demo page's assets in api/static (`widget.js`, `demo.css`): no paths."""

    regex = r"[A-Za-z0-9_-]+\.(?:js|css|svg|png|ico|map)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("asset", _AssetConvertor())

router = APIRouter(tags=["widget"])


def _static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise HTTPException(404, f"{name} is missing from api/static")
    return FileResponse(path)


@router.get("/", response_class=FileResponse)
async def demo_page() -> FileResponse:
    """The demo page with the chat widget."""
    return _static_file("index.html")


@router.get("/widget.js", response_class=FileResponse)
async def widget() -> FileResponse:
    """The embeddable widget: `<script src=".../widget.js" defer></script>`."""
    return _static_file("widget.js")


@router.get("/{name:asset}", response_class=FileResponse, include_in_schema=False)
async def asset(name: str) -> FileResponse:
    return _static_file(name)
