"""The package changes nothing process-wide: users import it, build the app, serve it in a
thread and load the pytest plugin inside their own test runs, next to their own Flask,
marshmallow and PyYAML."""
from __future__ import annotations

import json
import subprocess
import sys

PROBE = r'''
import gc, json, logging, re, sys

def snapshot():
    import marshmallow.validate, yaml.reader
    return {
        "re.compile": re.compile is ORIGINAL_COMPILE,
        "gc": [gc.isenabled(), list(gc.get_threshold()), gc.get_freeze_count()],
        "switch": sys.getswitchinterval(),
        "root handlers": len(logging.getLogger().handlers),
        "root level": logging.getLogger().level,
        "patterns": [isinstance(p, re.Pattern) for p in (
            marshmallow.validate.Email.USER_REGEX, marshmallow.validate.Email.DOMAIN_REGEX,
            yaml.reader.Reader.NON_PRINTABLE)],
    }

ORIGINAL_COMPILE = re.compile
import mockserver  # first, before marshmallow and PyYAML are imported
from mockserver import create_app
from mockserver import pytest_plugin
import threading, urllib.request
before = snapshot()
app = create_app()
server = pytest_plugin.LiveServer({})
office = server.new_office()
office.fault(path="/nothing", status=503)
urllib.request.urlopen(server.url + "/openapi.yaml").close()
server.close()
with app.test_client() as client:
    client.get("/api/v1/tasks/1408")
print(json.dumps({"before": before, "after": snapshot()}))
'''


def test_importing_building_serving_and_the_plugin_change_nothing_process_wide():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["after"] == seen["before"]
    assert seen["after"]["re.compile"] and seen["after"]["patterns"] == [True, True, True]
    assert seen["after"]["gc"] == [True, seen["after"]["gc"][1], 0]
