#!/usr/bin/env python3
"""Checks the ready-to-use pipelines in ci/: each is valid YAML of its CI system's shape, calls
only `firedrill` subcommands and options the binary has, only scripts and files the repository
holds, and (GitHub) no action beyond actions/checkout and actions/upload-artifact, pinned to a
major version.

Usage: ci/pipelines_test.py --firedrill BUILD/firedrill [--repo DIR]
"""
import argparse
import glob
import os
import re
import shlex
import subprocess
import sys
import unittest

import yaml

PIPELINES = {
    "ci/github/nightly-dr-drill.yml": "github",
    "ci/github/release-gate.yml": "github",
    "ci/github/monthly-attestation.yml": "github",
    "ci/gitlab/.gitlab-ci.yml": "gitlab",
}
ALLOWED_ACTIONS = {"actions/checkout", "actions/upload-artifact"}
# Paths a pipeline makes itself (build output, run directories) rather than finds in the tree.
PRODUCED = ("build/", "firedrill-runs", "gate-runs", "evidence", "attestation-", "$")

FIREDRILL = None
REPO = None


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as file:
        return file.read()


def help_of(*words):
    result = subprocess.run([FIREDRILL, *words, "--help"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"firedrill {' '.join(words)} --help exited {result.returncode}: {result.stderr}")
    return result.stdout


def subcommands(*words):
    """The subcommands `firedrill WORDS --help` lists."""
    text = help_of(*words)
    if "Subcommands:" not in text:
        return set()
    section = text.split("Subcommands:", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


def options_of(*words):
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", help_of(*words)))


def shell_scripts(path, kind, document):
    """Every shell script text of the pipeline, with where it is."""
    scripts = []
    if kind == "github":
        for job_name, job in document["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    scripts.append((f"{path}: job {job_name} step {index + 1}", step["run"]))
    else:
        for name, job in document.items():
            if not isinstance(job, dict):
                continue
            for key in ("before_script", "script", "after_script"):
                lines = job.get(key, [])
                for index, line in enumerate([lines] if isinstance(lines, str) else lines):
                    scripts.append((f"{path}: {name}.{key}[{index}]", line))
    return scripts


def commands(script):
    """Simple commands of a script: continuation lines joined, split at ; && || | and newlines."""
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for part in re.split(r"&&|\|\||;|\||\bthen\b|\bdo\b|\belse\b", line):
            if part.strip():
                yield part.strip()


def words_of(command):
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


class Pipelines(unittest.TestCase):
    def load(self, path):
        with open(os.path.join(REPO, path), encoding="utf-8") as file:
            return yaml.safe_load(file)

    def test_every_pipeline_is_yaml_of_its_ci_shape(self):
        for path, kind in PIPELINES.items():
            with self.subTest(path=path):
                document = self.load(path)
                self.assertIsInstance(document, dict)
                if kind == "github":
                    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
                    triggers = document.get("on", document.get(True))
                    self.assertTrue(triggers, "no trigger (on:)")
                    self.assertTrue(document["jobs"])
                    for job in document["jobs"].values():
                        self.assertIn("runs-on", job)
                        self.assertTrue(job["steps"])
                        for step in job["steps"]:
                            self.assertTrue("uses" in step or "run" in step, step)
                else:
                    jobs = {name: job for name, job in document.items()
                            if isinstance(job, dict) and "script" in job}
                    self.assertTrue(jobs)
                    for name, job in jobs.items():
                        self.assertIn(job["stage"], document["stages"], name)
                        self.assertIn("junit", job["artifacts"]["reports"], name)

    def test_nightly_runs_on_a_schedule_and_uploads_runs_and_junit(self):
        document = self.load("ci/github/nightly-dr-drill.yml")
        self.assertIn("schedule", document.get("on", document.get(True)))
        text = read("ci/github/nightly-dr-drill.yml")
        self.assertIn("ci/setup", text)
        self.assertIn("--junit", text)
        uploaded = [step["with"]["path"] for job in document["jobs"].values() for step in job["steps"]
                    if step.get("uses", "").startswith("actions/upload-artifact")]
        self.assertIn("firedrill-runs/", uploaded)
        self.assertIn("firedrill-runs/junit.xml", uploaded)

    def test_github_uses_only_checkout_and_upload_artifact_pinned_to_a_major(self):
        for path, kind in PIPELINES.items():
            if kind != "github":
                continue
            for job in self.load(path)["jobs"].values():
                for step in job["steps"]:
                    if "uses" not in step:
                        continue
                    with self.subTest(path=path, uses=step["uses"]):
                        action, _, version = step["uses"].partition("@")
                        self.assertIn(action, ALLOWED_ACTIONS)
                        self.assertRegex(version, r"^v[0-9]+$")

    def test_every_firedrill_subcommand_and_option_exists(self):
        top = subcommands()
        self.assertIn("run", top)
        called = 0
        for path, kind in PIPELINES.items():
            for where, script in shell_scripts(path, kind, self.load(path)):
                for command in commands(script):
                    words = words_of(command)
                    for at, word in enumerate(words):
                        if not (word == "firedrill" or word.endswith("/firedrill")) or at + 1 >= len(words):
                            continue
                        called += 1
                        path_words = [words[at + 1]]
                        with self.subTest(where=where, command=command):
                            self.assertIn(path_words[0], top, f"{where}: no subcommand '{path_words[0]}'")
                            nested = subcommands(*path_words)
                            if nested:
                                self.assertGreater(len(words), at + 2, f"{where}: '{path_words[0]}' needs a subcommand")
                                self.assertIn(words[at + 2], nested, f"{where}: no subcommand '{words[at + 2]}'")
                                path_words.append(words[at + 2])
                            known = options_of(*path_words)
                            for option in (w.split("=", 1)[0] for w in words[at + 1:] if w.startswith("--")):
                                self.assertIn(option, known, f"{where}: firedrill {' '.join(path_words)} has no {option}")
        self.assertGreaterEqual(called, 10)

    def test_every_script_and_file_they_name_exists(self):
        top_level = {entry + "/" for entry in os.listdir(REPO)
                     if os.path.isdir(os.path.join(REPO, entry)) and not entry.startswith("build")}
        named = 0
        for path, kind in PIPELINES.items():
            document = self.load(path)
            texts = [script for _, script in shell_scripts(path, kind, document)]
            for variables in [document.get("variables", {})] + [job.get("env", {}) for job in document.get("jobs", {}).values()]:
                texts += [str(value) for value in variables.values()]
            for text in texts:
                for word in re.findall(r"[\w.*/-]+", text):
                    word = word.rstrip(".")
                    if not any(word.startswith(prefix) for prefix in top_level) or word.startswith(PRODUCED):
                        continue
                    if word == "ci/gate-baseline.json":
                        continue  # optional: recorded by the first gate run, then committed
                    named += 1
                    with self.subTest(path=path, file=word):
                        self.assertTrue(glob.glob(os.path.join(REPO, word)), f"{path} names {word}, which is not in the tree")
                        if "*" not in word and os.path.isfile(os.path.join(REPO, word)) and word.startswith("ci/"):
                            self.assertTrue(os.access(os.path.join(REPO, word), os.X_OK), f"{word} is not executable")
        self.assertGreaterEqual(named, 10)

    def test_every_release_gate_requires_a_summary_signed_by_a_key(self):
        calls = 0
        for path, kind in PIPELINES.items():
            for where, script in shell_scripts(path, kind, self.load(path)):
                for command in commands(script):
                    words = words_of(command)
                    if "ci/require-vsa" not in words:
                        continue
                    calls += 1
                    with self.subTest(where=where):
                        self.assertIn("--key", words, f"{where}: ci/require-vsa without --key checks no signature")
        self.assertGreaterEqual(calls, 2)

    def test_require_vsa_refuses_an_unsigned_or_foreign_summary_and_accepts_a_signed_one(self):
        import base64
        import json
        import tempfile

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        def envelope(statement, key):
            payload = json.dumps(statement).encode()
            payload_type = b"application/vnd.in-toto+json"
            pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
            signatures = [{"keyid": "", "sig": base64.b64encode(key.sign(pae)).decode()}] if key else []
            return {"payloadType": payload_type.decode(), "payload": base64.b64encode(payload).decode(),
                    "signatures": signatures}

        statement = {"_type": "https://in-toto.io/Statement/v1", "subject": [],
                     "predicateType": "https://slsa.dev/verification_summary/v1",
                     "predicate": {"verificationResult": "PASSED"}}
        key, stranger = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
        with tempfile.TemporaryDirectory() as scratch:
            public = os.path.join(scratch, "k.pub")
            with open(public, "wb") as file:
                file.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
            cases = [("unsigned", envelope(statement, None), 1, "the envelope has no signatures"),
                     ("plain statement", statement, 1, "not a signed DSSE envelope"),
                     ("another key", envelope(statement, stranger), 1, "no signature verifies with the key"),
                     ("signed", envelope(statement, key), 0, "PASSED over 0 runs")]
            for name, document, expected, message in cases:
                with self.subTest(case=name):
                    file = os.path.join(scratch, "vsa.json")
                    with open(file, "w", encoding="utf-8") as out:
                        json.dump(document, out)
                    result = subprocess.run([sys.executable, os.path.join(REPO, "ci/require-vsa"), "--key", public, file],
                                            capture_output=True, text=True, timeout=30)
                    self.assertEqual(result.returncode, expected, result.stdout + result.stderr)
                    self.assertIn(message, result.stdout + result.stderr)
            without_key = subprocess.run([sys.executable, os.path.join(REPO, "ci/require-vsa"), file],
                                         capture_output=True, text=True, timeout=30)
            self.assertEqual(without_key.returncode, 2, "--key is required")

    def test_python_scripts_compile_and_setup_installs_pyyaml(self):
        for script in ("ci/require-vsa", "ci/github/fetch-drill-runs"):
            with self.subTest(script=script):
                compile(read(script), script, "exec")
        self.assertIn("python3-yaml", read("ci/setup"))


def main():
    global FIREDRILL, REPO
    parser = argparse.ArgumentParser()
    parser.add_argument("--firedrill", required=True)
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    options, rest = parser.parse_known_args()
    FIREDRILL, REPO = options.firedrill, options.repo
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
