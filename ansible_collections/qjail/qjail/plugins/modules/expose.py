#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: expose
short_description: Forward one public port of a qjail host to a jail
version_added: "0.1.0"
description:
  - V(present) makes sure the exposure exists as given, through
    C(qjail apply --json) with the jail's current spec (from
    C(qjail export --json)) and this exposure; an exposure with the same
    protocol, public port and O(on) but another jail port, source list or
    comment is replaced.
  - V(absent) removes it with C(qjail unexpose --json)
    (C(--dry-run) in check mode).
  - qjail recomputes and loads the firewall rules; its refusals (a port
    another jail or a host service has) fail the task with its message.
author:
  - qjail developers
options:
  jail:
    description: The jail the port is forwarded to.
    type: str
    required: true
  proto:
    description: The protocol.
    type: str
    choices: [tcp, udp]
    default: tcp
  public:
    description: The public port or range (C(6188), C(8000-8010)).
    type: str
    required: true
  port:
    description: The jail's port or range; required when O(state=present).
    type: str
  from:
    description: Allowed source networks (CIDR); default any.
    type: list
    elements: str
  "on":
    description: A host address or interface carrying the port; default the host's ext_if.
    type: str
  comment:
    description: Free text kept with the exposure.
    type: str
  zone:
    description: The jail's zone.
    type: str
  state:
    description: Whether the exposure exists.
    type: str
    choices: [present, absent]
    default: present
  root:
    description: Physical root every qjail host path is relocated under (C(qjail --root)).
    type: path
  platform:
    description: The qjail backend (C(qjail --platform)).
    type: str
    choices: [freebsd, linux]
  executable:
    description: The qjail program, a name on E(PATH) or a path.
    type: str
    default: qjail
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: qjail.qjail.jail
"""

EXAMPLES = r"""
- name: The howto's www jail on public port 6188
  qjail.qjail.expose:
    jail: www
    proto: tcp
    public: "6188"
    port: "80"

- name: ssh to the ssh jail from one network only
  qjail.qjail.expose:
    jail: ssh
    public: "6122"
    port: "22"
    from: [198.51.100.0/24]

- name: Stop forwarding 6188
  qjail.qjail.expose:
    jail: www
    public: "6188"
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the exposures changed.
  returned: always
  type: bool
report:
  description: The C(qjail apply --json) or C(qjail unexpose --json) document.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qjail.qjail.plugins.module_utils.qjail import (
    COMMON_ARGS,
    QjailError,
    apply_result,
    apply_spec,
    export_spec,
    fail_from,
    run_qjail,
)


def same_public(entry, p):
    """An exposure is known by its protocol, public port and --on side."""
    return (
        entry.get("proto") == p["proto"]
        and str(entry.get("public")) == str(p["public"])
        and entry.get("on") == p["on"]
    )


def main():
    argument_spec = {
        "jail": dict(type="str", required=True),
        "proto": dict(type="str", default="tcp", choices=["tcp", "udp"]),
        "public": dict(type="str", required=True),
        "port": dict(type="str"),
        "from": dict(type="list", elements="str"),
        "on": dict(type="str"),
        "comment": dict(type="str"),
        "zone": dict(type="str"),
        "state": dict(type="str", default="present", choices=["present", "absent"]),
    }
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("port",))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        current = export_spec(module, p["zone"]).get("jails", {}).get(p["jail"])
        if current is None:
            module.fail_json(msg="qjail: jail %s does not exist (qjail export names no such jail)" % p["jail"])
        existing = [e for e in current.get("expose", []) if same_public(e, p)]
        if p["state"] == "absent":
            if not existing:
                module.exit_json(changed=False, report={})
            words = ["unexpose", p["jail"], p["proto"], str(p["public"]).split("-")[0]]
            extra = (["--on", p["on"]] if p["on"] else []) + (["--dry-run"] if module.check_mode else [])
            report = run_qjail(module, words, extra=extra)
            result = dict(changed=True, report=report)
            if module._diff:
                result["diff"] = dict(before={"expose": existing}, after={"expose": []})
            module.exit_json(**result)
        entry = {"proto": p["proto"], "public": p["public"], "port": p["port"]}
        for key in ("from", "on", "comment"):
            if p[key]:
                entry[key] = p[key]
        jail = dict(current)
        jail["expose"] = [e for e in current.get("expose", []) if not same_public(e, p)] + [entry]
        spec = {"version": 1, "jails": {p["jail"]: jail}}
        if p["zone"]:
            spec["zone"] = p["zone"]
        report = apply_spec(module, spec)
    except QjailError as e:
        fail_from(module, e)
    result = apply_result(report)
    for w in report.get("warnings", []):
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
