import { test } from "node:test";
import assert from "node:assert/strict";
import { generateGuard, guardTransaction, linkLocalFromMac } from "../../src/firewall/nft/guard.js";
import { parseHostConfig, defaultHostConfig, formatHostConfig } from "../../src/core/hostconfig.js";

/** The guard tables' text (what the Linux backend loads at start/stop; nft checks it in the network tests). */

test("link-local addresses follow the kernel's EUI-64 from the MAC", () => {
  assert.equal(linkLocalFromMac("02:95:10:93:c8:a1"), "fe80::95:10ff:fe93:c8a1");
  assert.equal(linkLocalFromMac("00:11:22:33:44:55"), "fe80::211:22ff:fe33:4455");
});

test("each jail port is pinned to its MAC and addresses; host services closed unless listed", () => {
  const text = generateGuard({
    bridges: ["qjail0"],
    ports: [
      { hostIf: "qjh2", mac: "02:00:00:00:00:02", ip4: ["10.0.0.3"], ip6: ["fd00::3"] },
      { hostIf: "qjh1", mac: "02:00:00:00:00:01", ip4: ["10.0.0.2"], ip6: [] },
    ],
    hostServicesForJails: [
      { port: 53, proto: "udp" },
      { port: 53, proto: "tcp" },
    ],
  });
  assert.match(text, /elements = \{ "qjh1" \. 02:00:00:00:00:01, "qjh2" \. 02:00:00:00:00:02 \}/);
  assert.match(
    text,
    /"qjh1" \. 02:00:00:00:00:01 \. 10\.0\.0\.2, "qjh2" \. 02:00:00:00:00:02 \. 10\.0\.0\.3/,
  );
  // qjh1 has no IPv6 address: no IPv6 element, so every IPv6 frame from it is dropped
  assert.match(
    text,
    /elements = \{ "qjh2" \. 02:00:00:00:00:02 \. fe80::0:ff:fe00:2, "qjh2" \. 02:00:00:00:00:02 \. fd00::3 \}/,
  );
  assert.match(text, /icmpv6 type \{ nd-router-advert, nd-redirect \} counter drop/);
  assert.match(text, /icmpv6 type nd-neighbor-advert iifname "qjh2" jump nd_qjh2/);
  assert.match(text, /@th,64,128 0xfd000000000000000000000000000003 accept/);
  assert.match(text, /iifname != \{ "qjail0" \} accept\n\t\tct state established,related accept/);
  // jail to jail: dropped at the bridge, except packets of a connection the host DNATed (hairpin)
  assert.match(
    text,
    /chain forward \{\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname "qjh\*" oifname "qjh\*" meta mark & 0x00100000 == 0x00100000 accept\n\t\tiifname "qjh\*" oifname "qjh\*" counter drop comment "jail to jail"\n\t\}/,
  );
  assert.match(
    text,
    /type filter hook prerouting priority dstnat \+ 10; policy accept;\n\t\tiifname \{ "qjail0" \} ct status dnat meta mark set meta mark \| 0x00100000\n/,
  );
  assert.match(text, /tcp dport \{ 53 \} accept\n\t\tudp dport \{ 53 \} accept\n\t\tcounter drop/);
  const closed = generateGuard({ bridges: ["qjail0"], ports: [], hostServicesForJails: [] });
  assert.doesNotMatch(closed, /dport/, "nothing of the host is open by default");
  assert.match(
    guardTransaction({ bridges: ["qjail0"], ports: [], hostServicesForJails: [] }),
    /^table bridge qjail_guard \{\}\ndelete table bridge qjail_guard\ntable inet qjail_guard \{\}\ndelete table inet qjail_guard\n/,
  );
});

test("host_services_for_jails: parsed, default empty, written only when it opens something", () => {
  const defaults = defaultHostConfig("linux");
  assert.deepEqual(defaults.hostServicesForJails, []);
  const { config, problems } = parseHostConfig('host_services_for_jails="53/udp,53,8080/tcp"\n', defaults);
  assert.deepEqual(problems, []);
  assert.deepEqual(config.hostServicesForJails, [
    { port: 53, proto: "tcp" },
    { port: 53, proto: "udp" },
    { port: 8080, proto: "tcp" },
  ]);
  assert.match(formatHostConfig(config), /^host_services_for_jails="53\/tcp,53\/udp,8080\/tcp"$/m);
  assert.doesNotMatch(formatHostConfig(defaults), /host_services_for_jails/);
  const bad = parseHostConfig('host_services_for_jails="53/sctp"\n', defaults);
  assert.match(bad.problems[0]?.message ?? "", /^host_services_for_jails: /);
});
