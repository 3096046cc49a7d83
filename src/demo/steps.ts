import { VERSION } from "../version.js";
import { defaultHostConfig, type HostConfig } from "../core/hostconfig.js";
import { resolveExposures, type Exposure, type FirewallModel } from "../core/exposure.js";
import { generateIpf, generateIpnat } from "../firewall/ipf/generate.js";

/**
 * qjail-howto(8)'s scenario as data: the addresses, the jails, the exposures,
 * and each step as the page names it with the commands a FreeBSD admin types.
 * `qjail demo` runs these steps for real on Linux (src/demo/run.ts);
 * `qjail demo --print` prints them (any OS).
 *
 * The page's own numbers are kept where they are consistent (6122 → ssh:22,
 * 6188 → www:80; host ssh and http on 22 and 80). Its typos are not: it says
 * 6180 once and 8010 twice for the www port, and shows `rdr` rules without a
 * target address; the README's walk-through says so step by step.
 */

/** Documentation addresses (RFC 5737) for the host's public side and the outside client. */
export const DEMO_NET = {
  hostPublic: "198.51.100.1",
  client: "198.51.100.2",
  prefix: 24,
  jailSubnet: "10.0.0.0/24",
  sshJail: "10.0.0.2",
  wwwJail: "10.0.0.3",
  sshPublic: 6122,
  wwwPublic: 6188,
  whoisPort: 43,
  /** The page's qjail 5.x ssh user: login = jail name, first password = jail name, expired. */
  sshUser: "ssh",
  sshFirstPassword: "ssh",
} as const;

export interface DemoStepInfo {
  id: string;
  /** The heading printed before the step, as the page names it. */
  title: string;
  /** What a FreeBSD admin types for this step (with --print). */
  freebsd: string[];
}

export const DEMO_STEPS: readonly DemoStepInfo[] = [
  {
    id: "setup",
    title: "The host: a public address on its ext_if, an outside client, the host's own ssh and http",
    freebsd: ["# the host runs sshd on 22 and a web server on 80; ext_if em0 has the ISP's address"],
  },
  {
    id: "step1",
    // Not the page's `pkg install qjail`: that package is qjail 5.x, without expose, fw or doctor.
    title: "Step 1. install qjail (the page's 'pkg install qjail' is qjail 5.x)",
    freebsd: [
      "pkg install -y node22 npm-node22",
      `npm install -g qjail-${VERSION}.tgz      # the release tarball; README 'Install on FreeBSD'`,
    ],
  },
  { id: "step2", title: "Step 2. qjail install", freebsd: ["qjail install"] },
  {
    id: "step3",
    title: `Step 3. qjail create -4 ${DEMO_NET.sshJail} -c ssh`,
    freebsd: [`qjail create -4 ${DEMO_NET.sshJail} -c ssh`],
  },
  {
    id: "step4",
    title: `Step 4. qjail create -4 ${DEMO_NET.wwwJail} www`,
    freebsd: [`qjail create -4 ${DEMO_NET.wwwJail} www`],
  },
  { id: "step5", title: "Step 5. qjail start ssh", freebsd: ["qjail start ssh"] },
  { id: "step6", title: "Step 6. qjail restart ssh", freebsd: ["qjail restart ssh"] },
  { id: "step7", title: "Step 7. qjail start www", freebsd: ["qjail start www"] },
  {
    id: "step8",
    title: `Step 8. qjail console www: pkg install apache24; echo 'apache24_enable="YES"' >> /etc/rc.conf`,
    freebsd: [
      "qjail console www",
      "  pkg install apache24",
      `  echo 'apache24_enable="YES"' >> /etc/rc.conf`,
      "  exit",
    ],
  },
  { id: "step9", title: "Step 9. qjail restart www", freebsd: ["qjail restart www"] },
  {
    id: "expose",
    title: `Config host firewall for jail traffic: qjail expose ssh tcp ${DEMO_NET.sshPublic}:22; qjail expose www tcp ${DEMO_NET.wwwPublic}:80`,
    freebsd: [
      "qjail fw setup --write      # once: adds qjail's marked sections to the IPFilter rule files",
      `qjail expose ssh tcp ${DEMO_NET.sshPublic}:22`,
      `qjail expose www tcp ${DEMO_NET.wwwPublic}:80`,
    ],
  },
  {
    id: "sync",
    title:
      "Load the rules: qjail fw sync (the page's ipnat -CF -f /etc/ipnat.rules; ipf -y; ipf -Fa -f /etc/ipf.rules)",
    freebsd: [
      "qjail fw sync",
      "# which checks (ipnat -n, ipf -n), then loads, in this order:",
      "#   ipf -I -Fa -f /etc/ipf.rules && ipf -s",
      "#   ipnat -CF -f /etc/ipnat.rules",
      "#   ipf -y      (when ext_if's address changed since the last load)",
    ],
  },
  {
    id: "http",
    title: `Testing remote jail traffic: http://${DEMO_NET.hostPublic}:${DEMO_NET.wwwPublic}/ from the client answers "It worked"`,
    freebsd: [`fetch -o - http://${DEMO_NET.hostPublic}:${DEMO_NET.wwwPublic}/     # from a machine outside`],
  },
  {
    id: "ssh",
    title: `Testing remote jail traffic: ssh -p ${DEMO_NET.sshPublic} ${DEMO_NET.sshUser}@${DEMO_NET.hostPublic}, first password "${DEMO_NET.sshFirstPassword}", forced change`,
    freebsd: [
      `ssh -p ${DEMO_NET.sshPublic} ${DEMO_NET.sshUser}@${DEMO_NET.hostPublic}     # from a machine outside; password ${DEMO_NET.sshFirstPassword}, then choose a new one`,
    ],
  },
  {
    id: "whois",
    title: `Outbound: whois from jail ssh to a whois server on the client (port ${DEMO_NET.whoisPort}) arrives from ${DEMO_NET.hostPublic}`,
    freebsd: ["qjail console ssh", "  whois freebsd.org", "  exit"],
  },
  {
    id: "hostservices",
    title: `The host's own services stay apart: the client reaches the host's ssh on 22 and http on 80`,
    freebsd: [
      `ssh -p 22 admin@${DEMO_NET.hostPublic}; fetch -o - http://${DEMO_NET.hostPublic}/     # the host, not a jail`,
    ],
  },
  {
    id: "debug",
    title: "Some host debug commands: qjail status; qjail doctor",
    freebsd: [
      "qjail status          # sockstat -j JID, ipnat -lhd and ipfstat -hni, per jail",
      "qjail doctor --probe 192.0.2.43:43     # with an outbound whois check from every jail",
    ],
  },
];

/** The howto's host config on FreeBSD with IPFilter, the page's firewall. */
export function howtoHostConfig(extIf = "em0"): HostConfig {
  return {
    ...defaultHostConfig("freebsd", { enabledFirewalls: ["ipf"] }),
    extIf,
    firewall: "ipf",
    // create without -n puts the jails on the default route's interface, as the page's jails on rl0
    jailIf: extIf,
    jailSubnet4: DEMO_NET.jailSubnet,
    hostServices: [
      { port: 22, proto: "tcp" },
      { port: 80, proto: "tcp" },
    ],
  };
}

export function howtoExposures(): Exposure[] {
  const exposure = (jail: string, pub: number, port: number): Exposure => ({
    jail,
    proto: "tcp",
    public: { low: pub, high: pub },
    jailPort: { low: port, high: port },
    from: [],
    on: undefined,
    comment: "",
  });
  return [exposure("ssh", DEMO_NET.sshPublic, 22), exposure("www", DEMO_NET.wwwPublic, 80)];
}

export function howtoModel(host: HostConfig = howtoHostConfig()): FirewallModel {
  const { resolved } = resolveExposures(howtoExposures(), [
    { name: "ssh", ip4: [DEMO_NET.sshJail], ip6: [] },
    { name: "www", ip4: [DEMO_NET.wwwJail], ip6: [] },
  ]);
  return { host, exposures: resolved };
}

const indent = (text: string): string =>
  text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

/** `qjail demo --print --json`: the same as data. */
export function demoPrintDocument(): {
  __version: "1";
  steps: DemoStepInfo[];
  rules: { "ipnat.rules": string; "ipf.rules": string };
} {
  const model = howtoModel();
  return {
    __version: "1",
    steps: [...DEMO_STEPS],
    rules: { "ipnat.rules": generateIpnat(model), "ipf.rules": generateIpf(model) },
  };
}

/** `qjail demo --print`: the page's steps as a FreeBSD admin types them, with the IPFilter rules qjail writes. */
export function formatDemoPrint(): string {
  const model = howtoModel();
  const out: string[] = [
    `# qjail-howto(8) with qjail, on a FreeBSD host with IPFilter (ext_if em0, jails on ${howtoHostConfig().jailIf}: create's default, the default route's interface, as in qjail 5.x)`,
    "",
  ];
  for (const s of DEMO_STEPS) {
    out.push(s.title);
    for (const c of s.freebsd) out.push(`  ${c}`);
    if (s.id === "expose") {
      out.push(
        "",
        "  qjail writes inside its marked section of /etc/ipnat.rules:",
        indent(generateIpnat(model)),
      );
      out.push(
        "",
        "  and of /etc/ipf.rules (pass rules name the jail's address and port: rdr runs before the filter):",
        indent(generateIpf(model)),
      );
    }
    out.push("");
  }
  return out.join("\n");
}
