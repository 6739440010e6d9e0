"""The framework test app in Flask (see `apps.frameworks`)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request, send_file

from apps.frameworks.common import (
    STREAM_CHUNKS,
    download_path,
    file_summary,
    validated_allowing_unsized_reads,
)

flask_app = Flask(__name__)


@flask_app.get("/items/<name>")
def item(name):
    return jsonify(name=name, q=request.args.get("q"))


@flask_app.post("/form")
def form():
    return jsonify(fields=request.form.to_dict())


@flask_app.post("/upload")
def upload():
    part = request.files["file"]
    return jsonify(fields=request.form.to_dict(), file=file_summary(part.filename, part.read()))


@flask_app.get("/stream")
def stream():
    def generate():
        yield from STREAM_CHUNKS

    return Response(generate(), mimetype="application/octet-stream")


@flask_app.get("/download")
def download():
    return send_file(download_path(), mimetype="application/octet-stream", as_attachment=True,
                     download_name="data.bin")


# Werkzeug reads wsgi.input without a size; see validated_allowing_unsized_reads.
app = validated_allowing_unsized_reads(flask_app)
