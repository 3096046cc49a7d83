import { test } from "node:test";
import assert from "node:assert/strict";
import { formatListTable, listDocument, listRows } from "../../src/core/list.js";
import { newJailRecord, specFromRecord } from "../../src/core/jail.js";
import { hostLayout } from "../../src/core/paths.js";

const layout = hostLayout();
const spec = (
  name: string,
  over: Record<string, string> = {},
  status: "normal" | "norun" | "man" = "normal",
) =>
  specFromRecord(layout, name, status, {
    ...newJailRecord(layout, { name, ip4: "10.0.0.5", ip6: "", interface: "em0", oneTimeSsh: false }),
    ...over,
  });

test("qjail's table: STA letters, JID or N/A, one line per extra address", () => {
  const jails = [
    spec("web1", { ip4: "10.0.0.5,10.0.0.6", ip6: "fd00::5" }),
    spec("old1", { ip4: "10.0.0.7" }, "norun"),
    spec("db", { ip4: "", imagetype: "simple" }, "man"),
    spec("vj", { ip4: "", interface: "", vnet: "be|ipfw|3", vinterface: "em1" }),
  ];
  const text = formatListTable(listRows(jails, new Map([["web1", { jid: 12 }]])), undefined);
  assert.equal(
    text,
    [
      " ",
      "",
      "STA JID  NIC IP              Jailname",
      "--- ---- --- --------------- --------------------------------------------------",
      "DR  12   em0 10.0.0.5        web1",
      "             10.0.0.6",
      "             fd00::5",
      "DSN N/A  em0 10.0.0.7        old1",
      "ISM N/A  em0 none            db",
      "DS  N/A  em1 vnet|be|ipfw|3  vj",
      " ",
      " ",
      "",
    ].join("\n"),
  );
  assert.match(formatListTable([], "lab"), /^ \nJails in zone {2}lab\nSTA/);
});

test("the JSON document has stable libxo-style names", () => {
  const doc = listDocument(
    listRows([spec("web1", { ip4: "lo1|10.0.0.5" })], new Map([["web1", { jid: 3 }]])),
  );
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), {
    __version: "1",
    "qjail-information": {
      jail: [
        {
          name: "web1",
          status: "normal",
          state: "running",
          type: "directory",
          jid: 3,
          interface: "em0",
          ipv4_addrs: ["10.0.0.5"],
          ipv6_addrs: [],
          vnet: null,
          path: "/usr/jails/web1",
          zone: null,
        },
      ],
    },
  });
});
