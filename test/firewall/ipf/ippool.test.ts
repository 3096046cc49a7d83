import { test } from "node:test";
import assert from "node:assert/strict";
import {
  hashTableSize,
  IppoolSyntaxError,
  listIppool,
  parseIppool,
} from "../../../src/firewall/ipf/impl/ippool.js";

test("tree tables print canonically: roles, /32 added, negation spaced, empty list", () => {
  const text = [
    "table role = nat type = tree number = 7 { 10.0.0.1; !10.1.0.0/16; 10.1.2.0/255.255.255.0; };",
    "table role = count type = tree name = office",
    "\t{; };",
  ].join("\n");
  assert.equal(
    listIppool(text),
    [
      "table role=nat type=tree number=7",
      "\t{ 10.0.0.1/32; ! 10.1.0.0/16; 10.1.2.0/24; };",
      "table role=count type=tree name=office",
      "\t{; };",
      "",
    ].join("\n"),
  );
});

test("hash tables: load_hash sizes an unsized table 2n-1 (at least 1); small addresses print as numbers", () => {
  assert.equal(hashTableSize(0, 0), 1);
  assert.equal(hashTableSize(0, 4), 7);
  assert.equal(hashTableSize(33, 4), 33);
  const out = listIppool(
    "table role = ipf type = hash number = 9 seed = 7 { 0/0; 3/32; 9.9.9.9; 10.0.0.0/8; };\n" +
      "table role = auth type = hash number = 10 size = 13 { 1.1.1.1; };\n",
  );
  assert.equal(
    out,
    [
      "table role=ipf type=hash number=9 size=7 seed=7",
      "\t{ 0/0; 3/32; 9.9.9.9/32; 10.0.0.0/8; };",
      "table role=auth type=hash number=10 size=13",
      "\t{ 1.1.1.1/32; };",
      "",
    ].join("\n"),
  );
});

test("group maps give every entry a group: the map's default or its own", () => {
  const out = listIppool(
    "group-map out role = ipf number = 5 group = 20 { 1.1.1.1; 2.2.2.0/24, group = 30; };",
  );
  assert.equal(
    out,
    "group-map out role=ipf number=5 size=3\n\t{ 1.1.1.1/32, group=20; 2.2.2.0/24, group=30; };\n",
  );
});

test("pool forms: dstlist policies and interfaces, named trees, hash whose size option ippool ignores", () => {
  const out = listIppool(
    [
      "pool nat/dstlist (name gw; policy weighted connection;) { 1.1.1.1; em0:2.2.2.2; };",
      "pool ipf/tree (name t;) { 3.3.3.3; };",
      "pool all/hash (name h; size 99;) { 4.4.4.4; 5.5.5.5; 6.6.6.6; };",
    ].join("\n"),
  );
  assert.equal(
    out,
    [
      "pool nat/dstlist (name gw; policy weighting connection;)",
      "\t{ 1.1.1.1; em0:2.2.2.2; };",
      "table role=ipf type=tree name=t",
      "\t{ 3.3.3.3/32; };",
      "table role=all type=hash name=h size=5",
      "\t{ 4.4.4.4/32; 5.5.5.5/32; 6.6.6.6/32; };",
      "",
    ].join("\n"),
  );
});

test("file:// address lists are read through the caller's reader", () => {
  const files: Record<string, string> = { "lists/a": "1.1.1.1/32\n!2.2.0.0/16\n# comment\n\n2.2.2.0/24\n" };
  const out = listIppool('table role = ipf type = tree name = x { "file://lists/a"; };', (p) => {
    const f = files[p];
    if (f === undefined) throw new Error(`no ${p}`);
    return f;
  });
  assert.equal(out, "table role=ipf type=tree name=x\n\t{ 1.1.1.1/32; ! 2.2.0.0/16; 2.2.2.0/24; };\n");
});

test("malformed configs are refused with the offending text", () => {
  assert.throws(
    () => parseIppool("table role = bogus type = tree number = 1 { 1.1.1.1; };"),
    (e) => {
      assert.ok(e instanceof IppoolSyntaxError);
      assert.match((e as Error).message, /"bogus"/);
      return true;
    },
  );
  assert.throws(
    () => parseIppool("table role = ipf type = tree number = 1 { 1.1.1.300; };"),
    IppoolSyntaxError,
  );
  assert.throws(
    () => parseIppool("pool ipf/dstlist (name d; policy sometimes;) { 1.1.1.1; };"),
    IppoolSyntaxError,
  );
  assert.throws(() => parseIppool("table role = ipf type = tree number = 1 { 1.1.1.1; }"), IppoolSyntaxError);
});
