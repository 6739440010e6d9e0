"""A Pyramid project as its scaffold lays it out (`main(global_config, **settings)` returning
the WSGI app, settings and logging from `development.ini`), for tests/python/e2e/test_paste.py.
"""

import logging

from pyramid.config import Configurator
from pyramid.response import Response

log = logging.getLogger(__name__)


def home(request):
    log.info("home view for %s", request.path)
    greeting = request.registry.settings["greeting"]
    return Response(f"pyramid says {greeting}", content_type="text/plain")


def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.add_route("home", "/")
        config.add_view(home, route_name="home")
        config.add_static_view("assets", "pyramid_demo:static")
        return config.make_wsgi_app()
