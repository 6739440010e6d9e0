"""The framework test app in Pyramid (see `apps.frameworks`)."""

from __future__ import annotations

from wsgiref.validate import validator

from pyramid.config import Configurator
from pyramid.response import FileResponse, Response

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary


def item(request):
    return {"name": request.matchdict["name"], "q": request.GET.get("q")}


def _fields(request):
    return {k: v for k, v in request.POST.items() if isinstance(v, str)}


def form(request):
    return {"fields": _fields(request)}


def upload(request):
    part = request.POST["file"]
    return {"fields": _fields(request), "file": file_summary(part.filename, part.file.read())}


def stream(request):
    def generate():
        yield from STREAM_CHUNKS

    return Response(app_iter=generate(), content_type="application/octet-stream")


def download(request):
    return FileResponse(download_path(), request=request, content_type="application/octet-stream")


def make_app():
    with Configurator() as config:
        for name, pattern, view, method, renderer in [
            ("item", "/items/{name}", item, "GET", "json"),
            ("form", "/form", form, "POST", "json"),
            ("upload", "/upload", upload, "POST", "json"),
            ("stream", "/stream", stream, "GET", None),
            ("download", "/download", download, "GET", None),
        ]:
            config.add_route(name, pattern, request_method=method)
            config.add_view(view, route_name=name, renderer=renderer)
        return config.make_wsgi_app()


app = validator(make_app())
