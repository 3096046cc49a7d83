# -*- coding: utf-8 -*-
# Copyright: qjail developers
# BSD 2-Clause License (see https://opensource.org/licenses/BSD-2-Clause)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: jails
short_description: The jails of qjail hosts as inventory hosts
version_added: "0.1.0"
description:
  - Runs C(qjail list --json) on each qjail host (over ssh, or on the
    controller for C(localhost)) and adds every jail as an inventory host,
    with its addresses, state and the host it runs on.
  - Each jail is named O(name_format) with C({host}) and C({jail}) filled
    in, and put in the groups C(qjail_<host>) and
    C(qjail_running) or C(qjail_stopped); C(compose), C(groups) and
    C(keyed_groups) add more.
  - The inventory file's name must end in C(qjail.yml) or C(qjail.yaml).
author:
  - qjail developers
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; it makes the file a qjail inventory.
    type: str
    required: true
    choices: [qjail.qjail.jails]
  hosts:
    description:
      - The qjail hosts, as ssh destinations (C(user@host) or a name from the
        ssh configuration); C(localhost) runs qjail on the controller.
    type: list
    elements: str
    default: [localhost]
  host_options:
    description:
      - "Per host, qjail's global options, by host name as in O(hosts): C(root),
        C(platform), C(executable), C(zone)."
    type: dict
    default: {}
  executable:
    description: The qjail program on each host.
    type: str
    default: qjail
  ssh_args:
    description: Extra arguments for ssh (C(-F config), C(-p port), C(-i key)).
    type: list
    elements: str
    default: []
  name_format:
    description: Inventory name of a jail.
    type: str
    default: "{host}_{jail}"
"""

EXAMPLES = r"""
# qjail.yml
plugin: qjail.qjail.jails
hosts:
  - root@jailhost1.example.org
  - root@jailhost2.example.org
keyed_groups:
  - key: qjail_zone
    prefix: zone
"""

import json
import subprocess

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "qjail.qjail.jails"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("qjail.yml", "qjail.yaml"))

    def _list(self, host, opts):
        argv = [opts.get("executable", self.get_option("executable")), "list", "--json"]
        if opts.get("root"):
            argv += ["--root", opts["root"]]
        if opts.get("platform"):
            argv += ["--platform", opts["platform"]]
        if opts.get("zone"):
            argv += ["-z", opts["zone"]]
        if host != "localhost":
            argv = ["ssh", "-o", "BatchMode=yes"] + list(self.get_option("ssh_args")) + [host, "--"] + argv
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AnsibleParserError("qjail list on %s failed: %s" % (host, to_native(e)))
        try:
            doc = json.loads(to_native(proc.stdout))
        except ValueError:
            raise AnsibleParserError(
                "qjail list on %s printed no JSON (exit %d): %s" % (host, proc.returncode, to_native(proc.stderr))
            )
        if proc.returncode != 0 or "error" in doc:
            err = doc.get("error", {})
            raise AnsibleParserError("qjail list on %s: %s: %s" % (host, err.get("code"), err.get("message")))
        return doc.get("qjail-information", {}).get("jail", [])

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        strict = self.get_option("strict")
        per_host = self.get_option("host_options") or {}
        for host in self.get_option("hosts"):
            opts = per_host.get(host, {}) or {}
            short = host.split("@")[-1]
            group = self.inventory.add_group("qjail_%s" % short.replace(".", "_").replace("-", "_"))
            for jail in self._list(host, opts):
                name = self.get_option("name_format").format(host=short, jail=jail["name"])
                self.inventory.add_host(name, group=group)
                state_group = self.inventory.add_group("qjail_%s" % jail.get("state", "stopped"))
                self.inventory.add_child(state_group, name)
                hostvars = {
                    "qjail_host": host,
                    "qjail_name": jail["name"],
                    "qjail_state": jail.get("state"),
                    "qjail_status": jail.get("status"),
                    "qjail_jid": jail.get("jid"),
                    "qjail_ip4": jail.get("ipv4_addrs", []),
                    "qjail_ip6": jail.get("ipv6_addrs", []),
                    "qjail_interface": jail.get("interface"),
                    "qjail_zone": jail.get("zone"),
                    "qjail_path": jail.get("path"),
                }
                addrs = hostvars["qjail_ip4"] or hostvars["qjail_ip6"]
                if addrs:
                    hostvars["ansible_host"] = addrs[0]
                for k, v in hostvars.items():
                    self.inventory.set_variable(name, k, v)
                self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
