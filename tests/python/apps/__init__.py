"""WSGI apps the e2e tests serve with the real CLI (`--pythonpath tests/python apps.<name>:app`)."""
