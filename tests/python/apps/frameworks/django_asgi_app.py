"""The framework test app in Django, served through its ASGI handler (`get_asgi_application`):
the common routes (the views of `apps.frameworks.django_app`'s shape, as async-safe sync views
Django runs in its thread), and the admin with its login over sqlite (a fresh database per
server process, migrated at import, with the user `admin` / `ferrule-admin`).
"""

from __future__ import annotations

import os
import tempfile

import django
from django.conf import settings

_DB = os.path.join(tempfile.mkdtemp(prefix="ferrule-django-asgi-"), "db.sqlite3")

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="ferrule-tests-only",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
    ],
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _DB}},
    USE_TZ=True,
)
django.setup()

# Django's own modules come after settings.configure() and django.setup().
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.core.management import call_command
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary

call_command("migrate", verbosity=0, interactive=False)
User.objects.create_superuser("admin", "admin@example.com", "ferrule-admin")


@require_safe
def item(request, name):
    return JsonResponse({"name": name, "q": request.GET.get("q")})


@csrf_exempt
@require_POST
def form(request):
    return JsonResponse({"fields": request.POST.dict()})


@csrf_exempt
@require_POST
def upload(request):
    part = request.FILES["file"]
    return JsonResponse({"fields": request.POST.dict(),
                         "file": file_summary(part.name, part.read())})


@require_safe
def stream(request):
    async def generate():
        for chunk in STREAM_CHUNKS:
            yield chunk

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
    path("admin/", admin.site.urls),
]

app = get_asgi_application()
