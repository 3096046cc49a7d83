#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: info
short_description: Facts about a qjail host's jails, ports and status
version_added: "0.1.0"
description:
  - Gathers C(qjail list --json), C(qjail ports --json), optionally
    C(qjail status --json), and the host as a spec (C(qjail export --json)).
  - Changes nothing.
author:
  - qjail developers
options:
  zone:
    description: The zone whose jails are listed and exported.
    type: str
  gather:
    description: What to gather.
    type: list
    elements: str
    choices: [jails, ports, status, spec]
    default: [jails, ports, spec]
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
    support: none
seealso:
  - module: qjail.qjail.apply
"""

EXAMPLES = r"""
- name: What runs here
  qjail.qjail.info:
  register: q

- name: Show the running jails
  ansible.builtin.debug:
    msg: "{{ q.jails | selectattr('state', 'equalto', 'running') | map(attribute='name') | list }}"
"""

RETURN = r"""
jails:
  description: C(qjail list --json)'s jails (name, status, state, type, jid, interface, ipv4_addrs, ipv6_addrs, vnet, path, zone).
  returned: when jails is gathered
  type: list
  elements: dict
ports:
  description: C(qjail ports --json)'s document (every forwarded public port, its jail, active or pending).
  returned: when ports is gathered
  type: dict
status:
  description: C(qjail status --json)'s document (per jail, listening sockets and exposures with hit counts).
  returned: when status is gathered
  type: dict
spec:
  description: The host as a spec (C(qjail export --json)), ready for M(qjail.qjail.apply).
  returned: when spec is gathered
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qjail.qjail.plugins.module_utils.qjail import (
    COMMON_ARGS,
    QjailError,
    export_spec,
    fail_from,
    run_qjail,
)


def main():
    argument_spec = dict(
        zone=dict(type="str"),
        gather=dict(
            type="list",
            elements="str",
            choices=["jails", "ports", "status", "spec"],
            default=["jails", "ports", "spec"],
        ),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    zone = ["-z", p["zone"]] if p["zone"] else []
    result = dict(changed=False)
    try:
        if "jails" in p["gather"]:
            doc = run_qjail(module, ["list"], extra=zone)
            result["jails"] = doc.get("qjail-information", {}).get("jail", [])
        if "ports" in p["gather"]:
            result["ports"] = run_qjail(module, ["ports"])
        if "status" in p["gather"]:
            result["status"] = run_qjail(module, ["status"])
        if "spec" in p["gather"]:
            result["spec"] = export_spec(module, p["zone"])
    except QjailError as e:
        fail_from(module, e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
