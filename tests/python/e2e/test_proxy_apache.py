"""Real Apache httpd (mod_proxy_http) in front of ferrule with the virtual host of
docs/deploy.md, the way mod_wsgi users move to an app server: the app sees the client's
address (from mod_proxy's X-Forwarded-For), the scheme and the host.
"""

from __future__ import annotations

from proxies import start_apache
from test_proxy_nginx import CLIENT, client_conn, get

APP = "apps.proxied:app"


def test_apache_forwards_the_client_scheme_and_host(ferrule_server, proxies):
    server = ferrule_server(APP)
    apache = proxies(start_apache, server)
    with client_conn(apache.address) as conn:
        for _ in range(2):
            _, got = get(conn, headers={"X-Forwarded-For": "6.6.6.6",
                                        "Forwarded": "for=6.6.6.6"})
            assert got["REMOTE_ADDR"] == CLIENT
            assert got["wsgi.url_scheme"] == "http"
            assert got["HTTP_HOST"] == "shop.example"
            assert got["HTTP_FORWARDED"] is None
        _, got = get(conn, "/form", body=b"z" * 4000, method="POST")
        assert (got["REQUEST_METHOD"], got["body_length"]) == ("POST", 4000)
