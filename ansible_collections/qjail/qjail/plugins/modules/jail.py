#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: jail
short_description: Manage one qjail jail
version_added: "0.1.0"
description:
  - Creates, changes, starts, stops or deletes one jail through
    C(qjail apply --json) with a spec naming only that jail, so the same
    planners, checks and messages as C(qjail create), C(qjail config),
    C(qjail start) and C(qjail delete) apply.
  - Settings not given keep the jail's current values (read with
    C(qjail export --json)); O(options), when given, is the jail's whole set
    of options (an option left out goes back to its default).
  - The jail's exposures are left as they are; use M(qjail.qjail.expose).
author:
  - qjail developers
options:
  name:
    description: The jail's name.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the jail exists (a new one is created stopped;
        an existing one keeps running or stopped as it is); V(running) and
        V(stopped) also start or stop it; V(absent) deletes it.
    type: str
    choices: [present, absent, running, stopped]
    default: present
  ip4:
    description: IPv4 addresses (C(create -4)); C(nic|address) entries allowed.
    type: list
    elements: str
  ip6:
    description: IPv6 addresses (C(create -6)).
    type: list
    elements: str
  nic:
    description: Interface for the jail's addresses (C(create -n), C(config -c)).
    type: str
  zone:
    description: The jail's zone (C(create -z)).
    type: str
  ssh_user:
    description: Create the one-time ssh user when the jail is created (C(create -c)).
    type: bool
  norun:
    description: norun status (C(config -r)/C(-R)).
    type: bool
  manual:
    description: Manual-start status (C(config -m)/C(-M)).
    type: bool
  options:
    description:
      - The jail's jail.conf options, as in the spec
        (C(raw_sockets), C(sysvipc), C(quotas), C(mount_nullfs), C(mount_tmpfs),
        C(mount_zfs), C(securelevel), C(devfs_ruleset), C(fib)).
    type: dict
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
  - module: qjail.qjail.apply
  - module: qjail.qjail.expose
"""

EXAMPLES = r"""
- name: A running www jail with raw sockets
  qjail.qjail.jail:
    name: www
    ip4: [10.0.0.3]
    state: running
    options: {raw_sockets: true}

- name: Stop it
  qjail.qjail.jail:
    name: www
    state: stopped

- name: Delete it
  qjail.qjail.jail:
    name: www
    state: absent
"""

RETURN = r"""
changed:
  description: Whether qjail changed the jail.
  returned: always
  type: bool
actions:
  description: The steps qjail took (or would take), by jail.
  returned: always
  type: dict
  sample: {"www": ["create 10.0.0.3", "config raw_sockets on", "start"]}
report:
  description: The C(qjail apply --json) document.
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
)


def desired_jail(params, current):
    """The jail's spec entry: what was given, the current values for what was not."""
    jail = dict(current or {})
    jail.pop("expose", None)  # exposures are left as they are (no --prune)
    for key in ("ip4", "ip6"):
        if params[key] is not None:
            jail[key] = params[key]
    for key in ("nic", "zone", "norun", "manual"):
        if params[key] is not None:
            jail[key] = params[key]
    if params["ssh_user"] is not None:
        jail["ssh_user"] = params["ssh_user"]
    if params["options"] is not None:
        jail["options"] = params["options"]
    state = params["state"]
    if state == "absent":
        return {"state": "absent"}
    if state == "present":
        jail["state"] = (current or {}).get("state", "stopped")
        if jail.get("norun"):
            jail.pop("state", None)
    else:
        jail["state"] = state
    return jail


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "running", "stopped"]),
        ip4=dict(type="list", elements="str"),
        ip6=dict(type="list", elements="str"),
        nic=dict(type="str"),
        zone=dict(type="str"),
        ssh_user=dict(type="bool"),
        norun=dict(type="bool"),
        manual=dict(type="bool"),
        options=dict(type="dict"),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    try:
        current = export_spec(module, p["zone"]).get("jails", {}).get(p["name"])
        if current is None and p["state"] != "absent" and not (p["ip4"] or p["ip6"]):
            module.fail_json(msg="jail %s does not exist; give ip4 or ip6 to create it" % p["name"])
        spec = {"version": 1, "jails": {p["name"]: desired_jail(p, current)}}
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
