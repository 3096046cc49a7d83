#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apply
short_description: Bring a jail host to a qjail host spec
version_added: "0.1.0"
description:
  - Runs C(qjail apply --json) on the managed host with a version 1 host spec
    (the host settings, the jails with their addresses, options and state, and
    their exposed ports), so the host ends up as the spec describes it.
  - Idempotent; the second run with the same spec reports no change and
    writes nothing.
  - Check mode runs C(qjail apply --check); diff mode adds qjail's own
    unified diffs of the records, jail.conf blocks, fstab lines, exposure
    files, qjail.host and the generated firewall rules.
  - A spec qjail refuses (an address or public port already taken, a port of
    a host service, an unknown key) fails the task with qjail's message and
    changes nothing on that host.
author:
  - qjail developers
options:
  spec:
    description:
      - The spec as a dictionary, as in C(qjail-apply(8)) (C(version), C(zone),
        C(host), C(jails)). Mutually exclusive with O(src).
    type: dict
  src:
    description:
      - Path of a spec file (YAML or JSON) on the managed host.
        Mutually exclusive with O(spec).
    type: path
  prune:
    description:
      - Also delete the jails of the spec's zone that the spec does not name,
        and the exposures of named jails that it does not list.
    type: bool
    default: false
  root:
    description:
      - Physical root every qjail host path is relocated under (C(qjail --root)).
    type: path
  platform:
    description:
      - The qjail backend (C(qjail --platform)); default the managed host's OS.
    type: str
    choices: [freebsd, linux]
  executable:
    description:
      - The qjail program, a name on E(PATH) or a path.
    type: str
    default: qjail
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Calls qjail's JSON interface only; never parses its human text.
seealso:
  - module: qjail.qjail.jail
  - module: qjail.qjail.info
"""

EXAMPLES = r"""
- name: Bring the host to its spec
  qjail.qjail.apply:
    spec:
      version: 1
      host:
        firewall: pf
        ext_if: em0
        host_services: [22/tcp, 80/tcp]
      jails:
        www:
          ip4: 10.0.0.3
          options: {securelevel: 2}
          expose:
            - {proto: tcp, public: 6188, port: 80}

- name: Apply a spec kept in host_vars, deleting jails it does not name
  qjail.qjail.apply:
    spec: "{{ qjail_spec }}"
    prune: true

- name: Apply a spec file already on the host
  qjail.qjail.apply:
    src: /usr/local/etc/qjail.spec.yml
"""

RETURN = r"""
changed:
  description: Whether qjail changed anything (always false in check mode's effect, true when it would change).
  returned: always
  type: bool
actions:
  description: The steps per jail, as qjail reports them.
  returned: always
  type: dict
  sample: {"www": ["create 10.0.0.3", "expose tcp 6188 -> www:80", "start"]}
report:
  description: The whole C(qjail apply --json) document (host, jails, firewall, untouched, warnings, diffs).
  returned: always
  type: dict
code:
  description: qjail's message code when it refused or failed.
  returned: failed
  type: str
  sample: QJ3023
hint:
  description: What qjail says to do about the failure.
  returned: failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qjail.qjail.plugins.module_utils.qjail import (
    COMMON_ARGS,
    QjailError,
    apply_result,
    apply_spec,
    fail_from,
    run_qjail,
)


def main():
    argument_spec = dict(
        spec=dict(type="dict"),
        src=dict(type="path"),
        prune=dict(type="bool", default=False),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("spec", "src")],
        required_one_of=[("spec", "src")],
        supports_check_mode=True,
    )
    try:
        if module.params["spec"] is not None:
            report = apply_spec(module, module.params["spec"], prune=module.params["prune"])
        else:
            extra = []
            if module.check_mode:
                extra.append("--check")
            if module._diff:
                extra.append("--diff")
            if module.params["prune"]:
                extra.append("--prune")
            extra.append(module.params["src"])
            report = run_qjail(module, ["apply"], extra=extra)
    except QjailError as e:
        fail_from(module, e)
    result = apply_result(report)
    for w in report.get("warnings", []):
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
