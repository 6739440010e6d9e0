"""The framework test app in Falcon (see `apps.frameworks`)."""

from __future__ import annotations

import os
from wsgiref.validate import validator

import falcon

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary


class Item:
    def on_get(self, req, resp, name):
        resp.media = {"name": name, "q": req.get_param("q")}


class Form:
    def on_post(self, req, resp):
        resp.media = {"fields": dict(req.get_media())}


class Upload:
    def on_post(self, req, resp):
        fields, upload = {}, None
        for part in req.get_media():
            if part.filename:
                upload = file_summary(part.filename, part.stream.read())
            else:
                fields[part.name] = part.text
        resp.media = {"fields": fields, "file": upload}


class Stream:
    def on_get(self, req, resp):
        def generate():
            yield from STREAM_CHUNKS

        resp.content_type = "application/octet-stream"
        resp.stream = generate()


class Download:
    def on_get(self, req, resp):
        path = download_path()
        resp.content_type = "application/octet-stream"
        resp.downloadable_as = "data.bin"
        # Falcon (or the server, through wsgi.file_wrapper) closes the stream when done.
        resp.set_stream(open(path, "rb"), os.path.getsize(path))

    def on_head(self, req, resp):
        # Falcon drops the body of HEAD responses itself; the headers are those of GET.
        self.on_get(req, resp)


falcon_app = falcon.App()
falcon_app.add_route("/items/{name}", Item())
falcon_app.add_route("/form", Form())
falcon_app.add_route("/upload", Upload())
falcon_app.add_route("/stream", Stream())
falcon_app.add_route("/download", Download())

app = validator(falcon_app)
