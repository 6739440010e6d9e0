"""The framework test app in Django (see `apps.frameworks`), configured in code: no project
directory, no middleware, this module is the URLconf."""

from __future__ import annotations

from wsgiref.validate import validator

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="ferrule-tests-only",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

# Django's own modules come after settings.configure() and django.setup().
from django.core.wsgi import get_wsgi_application
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary


@require_safe
def item(request, name):
    return JsonResponse({"name": name, "q": request.GET.get("q")})


@require_POST
def form(request):
    return JsonResponse({"fields": request.POST.dict()})


@require_POST
def upload(request):
    part = request.FILES["file"]
    return JsonResponse({"fields": request.POST.dict(),
                         "file": file_summary(part.name, part.read())})


@require_safe
def stream(request):
    def generate():
        yield from STREAM_CHUNKS

    return StreamingHttpResponse(generate(), content_type="application/octet-stream")


@require_safe
def download(request):
    return FileResponse(open(download_path(), "rb"), as_attachment=True, filename="data.bin",
                        content_type="application/octet-stream")


urlpatterns = [
    path("items/<str:name>", item),
    path("form", form),
    path("upload", upload),
    path("stream", stream),
    path("download", download),
]

app = validator(get_wsgi_application())
