"""The contract check fails on the drift it exists for: each test mutates a copy of the real
document, template, package list or fixtures and expects a named problem; the real ones pass.

Run: .local/venv/bin/python -m unittest discover -s infra/checks -v
"""

import copy
import json
import tempfile
import unittest
from pathlib import Path

import check_contract as cc
import check_template as ct

DOC = cc.load_document(cc.DEFAULT_DOCUMENT)
TEMPLATE = ct.load_template(ct.DEFAULT_TEMPLATE)
PACKAGES = cc.function_packages(ct.REPO_ROOT)


def problems(doc=None, t=None, packages=None, repo=None):
    return cc.run_checks(doc or DOC, t or TEMPLATE, packages or PACKAGES, repo or ct.REPO_ROOT)


class RealContract(unittest.TestCase):
    def test_the_real_document_template_and_fixtures_agree(self):
        self.assertEqual(problems(), [])


class Drift(unittest.TestCase):
    def assertProblem(self, found, text):
        self.assertTrue(any(text in p for p in found), f"no problem containing {text!r} in {found}")

    def test_a_route_removed_from_the_template_fails(self):
        t = copy.deepcopy(TEMPLATE)
        del t["Resources"]["SignupFunction"]["Properties"]["Events"]
        self.assertProblem(problems(t=t), "operation POST /signup is documented but the template has no such route")

    def test_an_undocumented_route_fails(self):
        doc = copy.deepcopy(DOC)
        del doc["paths"]["/signup"]
        self.assertProblem(problems(doc=doc), "route POST /signup (signup) is in the template but not in docs/openapi.yaml")

    def test_a_function_package_without_a_documented_route_fails(self):
        self.assertProblem(problems(packages=PACKAGES | {"unrouted"}), "functions/unrouted serves no documented route")

    def test_the_wrong_function_fails(self):
        doc = copy.deepcopy(DOC)
        doc["paths"]["/signup"]["post"]["x-function"] = "cello-token"
        self.assertProblem(problems(doc=doc), "POST /signup: x-function is 'cello-token'")

    def test_the_authorizer_must_match_the_security_scheme(self):
        doc = copy.deepcopy(DOC)
        doc["paths"]["/signup"]["post"]["security"] = []
        self.assertProblem(problems(doc=doc), "POST /signup: the route has the JWT authorizer")
        doc = copy.deepcopy(DOC)
        doc["paths"]["/stripe/webhook"]["post"]["security"] = [{"bearerJwt": []}]
        self.assertProblem(problems(doc=doc), "POST /stripe/webhook: the route has no authorizer")

    def test_the_body_limit_must_be_documented(self):
        doc = copy.deepcopy(DOC)
        del doc["paths"]["/cello/token"]["post"]["x-max-body-bytes"]
        self.assertProblem(problems(doc=doc), "POST /cello/token: x-max-body-bytes")

    def test_a_fixture_body_the_schema_refuses_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            (repo / "events" / "signup").mkdir(parents=True)
            event = {"routeKey": "POST /signup", "body": json.dumps({"firstName": "Ada", "lastName": "L", "nickname": "x"})}
            (repo / "events" / "signup" / "extra.json").write_text(json.dumps(event))
            (repo / "events" / "signup" / "extra.expect.json").write_text(json.dumps({"status": 201}))
            found = cc.check_fixtures(DOC, repo)
        self.assertProblem(found, "events/signup/extra.json: body rejected by POST /signup's schema")

    def test_an_undocumented_expected_status_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            (repo / "events" / "cello-token").mkdir(parents=True)
            event = {"routeKey": "POST /cello/token", "body": ""}
            (repo / "events" / "cello-token" / "teapot.json").write_text(json.dumps(event))
            (repo / "events" / "cello-token" / "teapot.expect.json").write_text(json.dumps({"status": 418}))
            found = cc.check_fixtures(DOC, repo)
        self.assertProblem(found, "expects 418, which POST /cello/token does not document")


if __name__ == "__main__":
    unittest.main()
