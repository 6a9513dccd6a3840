import assert from "node:assert/strict";
import { certificateNames, hostNameOf, HostPolicy } from "./host_policy.ts";
import { ConnectionLimits, normalizeAddress } from "./connection_limits.ts";

Deno.test("hostNameOf: the name of a Host header, or undefined for anything malformed", () => {
  assert.equal(hostNameOf("Meet.Example.org.:8000"), "meet.example.org");
  assert.equal(hostNameOf("[::1]:8000"), "[::1]");
  assert.equal(hostNameOf("127.0.0.1"), "127.0.0.1");
  for (const bad of ["", "a b", "x@y", "x/y", "x:", "x:123456", "[::1"]) {
    assert.equal(hostNameOf(bad), undefined, bad);
  }
});

Deno.test("HostPolicy: configured names and IP literals are answered; other names are not", () => {
  const policy = new HostPolicy({ names: ["box"], allowHosts: ["meet.example.org"] });
  for (
    const ok of ["localhost:8000", "box", "BOX:1", "meet.example.org", "10.0.0.7:8000", "[fe80::1]"]
  ) {
    assert.ok(policy.hostAllowed(ok), ok);
  }
  for (const bad of [null, "", "evil.example", "box.evil.example", "localhost.evil.example:8000"]) {
    assert.ok(!policy.hostAllowed(bad), String(bad));
  }
});

Deno.test("HostPolicy: a page may write only from the request's own host, an --allow-host name or an allowed origin", () => {
  const policy = new HostPolicy({
    names: [],
    allowHosts: ["meet.example.org"],
    allowedOrigins: ["https://app.example.com"],
  });
  assert.ok(policy.originAllowed("http://localhost:8000", "localhost:8000"));
  assert.ok(!policy.originAllowed("http://localhost:3000", "localhost:8000"));
  assert.ok(policy.originAllowed("https://meet.example.org", "127.0.0.1:8000"));
  assert.ok(policy.originAllowed("https://app.example.com", "localhost:8000"));
  for (const bad of ["null", "http://evil.example", "file:///x", "chrome-extension://x"]) {
    assert.ok(!policy.originAllowed(bad, "localhost:8000"), bad);
  }
});

Deno.test("certificateNames: empty for what is not a certificate", () => {
  assert.deepEqual(certificateNames("not a certificate"), []);
});

Deno.test("ConnectionLimits: per address and total; IPv4-mapped addresses are plain IPv4", () => {
  assert.equal(normalizeAddress("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(normalizeAddress("::1"), "::1");
  const limits = new ConnectionLimits({ perAddress: 2, total: 3 });
  assert.ok(limits.tryOpen("a") && limits.tryOpen("a"));
  assert.ok(!limits.tryOpen("a"));
  assert.ok(limits.tryOpen("b"));
  assert.ok(!limits.tryOpen("c"));
  limits.close("a");
  assert.ok(limits.tryOpen("c"));
  assert.equal(limits.total, 3);
  limits.close("unknown");
  assert.equal(limits.total, 3);
});
