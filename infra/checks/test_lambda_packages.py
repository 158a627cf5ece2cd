"""Tests of infra/local/lambda_packages.py: which packages under functions/ are Lambdas (zipped
by the release stage, measured by the perf harness) and what each is measured with."""
import importlib.util
import pathlib
import tempfile
import unittest

spec = importlib.util.spec_from_file_location(
    "lambda_packages", pathlib.Path(__file__).resolve().parents[1] / "local" / "lambda_packages.py"
)
lambda_packages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lambda_packages)


class LambdaPackages(unittest.TestCase):
    def repo(self, manifests: dict[str, str]) -> pathlib.Path:
        root = pathlib.Path(tempfile.mkdtemp())
        for name, extra in manifests.items():
            d = root / "functions" / name
            d.mkdir(parents=True)
            (d / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\n{extra}')
        return root

    def test_every_package_is_a_lambda_unless_marked_and_keeps_its_perf_event(self):
        root = self.repo({
            "webhook": '[package.metadata.cello.perf]\nevent = "events/w.json"\nargs = ["--stripe"]\n',
            "doctor": '[package.metadata.cello]\nkind = "command"\n',
            "tool": "[package.metadata.lambda]\ndeploy = false\n",
            "alpha": "",
            "beta": "[package.metadata.lambda]\ndeploy = true\n",
        })
        found = dict(lambda_packages.lambda_packages(root))
        self.assertEqual(list(found), ["alpha", "beta", "webhook"])
        self.assertEqual(found["webhook"], {"event": "events/w.json", "args": ["--stripe"]})
        self.assertEqual(found["alpha"], {})

    def test_a_declared_perf_event_exists(self):
        repo = pathlib.Path(__file__).resolve().parents[2]
        for name, perf in lambda_packages.lambda_packages(repo):
            if "event" in perf:
                with self.subTest(name):
                    self.assertTrue((repo / perf["event"]).is_file(), perf)


if __name__ == "__main__":
    unittest.main()
