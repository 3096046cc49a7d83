# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)
"""Shared by the qjail.qjail modules: run qjail's --json interface and read its one document."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

COMMON_ARGS = dict(
    root=dict(type="path"),
    platform=dict(type="str", choices=["freebsd", "linux"]),
    executable=dict(type="str", default="qjail"),
)


class QjailError(Exception):
    """qjail refused or failed: its JSON error object (code, message, hint) and the whole document."""

    def __init__(self, code, message, hint=None, document=None, rc=None, stderr=None):
        super(QjailError, self).__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.hint = hint
        self.document = document or {}
        self.rc = rc
        self.stderr = stderr


def qjail_argv(module, words, extra=None):
    """The argv of one qjail call: the command words, then --json and the global options."""
    p = module.params
    argv = [module.get_bin_path(p["executable"], required=True) if "/" not in p["executable"] else p["executable"]]
    argv.extend(words)
    argv.append("--json")
    if p.get("root"):
        argv.extend(["--root", p["root"]])
    if p.get("platform"):
        argv.extend(["--platform", p["platform"]])
    argv.extend(extra or [])
    return argv


def run_qjail(module, words, extra=None, data=None):
    """Run qjail and return its JSON document; raise QjailError on a refusal or failure."""
    argv = qjail_argv(module, words, extra)
    rc, out, err = module.run_command(argv, data=data, binary_data=data is not None, encoding="utf-8")
    try:
        doc = json.loads(out) if out.strip() else {}
    except ValueError:
        raise QjailError("QJ0000", "qjail printed no JSON document (exit %d): %s" % (rc, (err or out).strip()),
                         rc=rc, stderr=err)
    if rc != 0 or (isinstance(doc, dict) and "error" in doc):
        e = doc.get("error") if isinstance(doc, dict) else None
        if not isinstance(e, dict):
            e = {"code": "QJ0000", "message": (err or "qjail exited %d" % rc).strip(), "hint": None}
        raise QjailError(e.get("code"), e.get("message"), e.get("hint"), document=doc, rc=rc, stderr=err)
    return doc


def fail_from(module, err, **extra):
    """fail_json with qjail's own message (and its report, when a run failed part-way)."""
    result = dict(extra)
    result.update(
        msg="qjail: %s: %s" % (err.code, err.message),
        code=err.code,
        hint=err.hint,
        rc=err.rc,
        stderr=err.stderr,
    )
    if err.document and isinstance(err.document, dict) and "jails" in err.document:
        result["report"] = err.document
        result["changed"] = any(j.get("result") == "done" for j in err.document.get("jails", []))
    module.fail_json(**result)


def apply_spec(module, spec, prune=False):
    """`qjail apply --json -` with the spec on standard input; --check in check mode, --diff in diff mode."""
    extra = []
    if module.check_mode:
        extra.append("--check")
    if module._diff:
        extra.append("--diff")
    if prune:
        extra.append("--prune")
    extra.append("-")
    return run_qjail(module, ["apply"], extra=extra, data=json.dumps(spec))


def apply_result(report):
    """The module result of an apply report: changed as qjail says, qjail's diff, the report."""
    result = dict(
        changed=bool(report.get("changed")),
        report=report,
        actions=dict((j["name"], j["actions"]) for j in report.get("jails", [])),
    )
    diffs = report.get("diffs") or []
    if diffs:
        result["diff"] = dict(prepared="\n".join(d["diff"].rstrip("\n") for d in diffs) + "\n")
    return result


def export_spec(module, zone=None):
    """The host as a spec (`qjail export --json`)."""
    extra = ["-z", zone] if zone else []
    return run_qjail(module, ["export"], extra=extra)
