import { describe, expect, it } from "vitest";
import { canonicalInetText, ipv6Words, layoutIpv6 } from "./canonical-inet.js";

describe("canonicalInetText (RFC 5952, PostgreSQL inet's layout)", () => {
  it.each([
    // MariaDB INET6 compresses a single zero group; RFC 5952 writes it out.
    ["1::2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["1::2:0:3:4:5:6", "1:0:2:0:3:4:5:6"],
    // The first of two longest runs; a longer run after a shorter one.
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    ["1:0:0:2:0:0:0:4", "1:0:0:2::4"],
    ["0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"],
    // Case, leading zeros, IPv4-mapped and -compatible, the unspecified address, prefixes.
    ["2001:DB8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["::FFFF:1.2.3.4", "::ffff:1.2.3.4"],
    ["::ffff:102:304", "::ffff:1.2.3.4"],
    ["::1.2.3.4", "::1.2.3.4"],
    ["::ffff:0:1.2.3.4", "::ffff:0:102:304"],
    ["::0.0.1.0", "::100"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::2:3:4:5:6:7/64", "1:0:2:3:4:5:6:7/64"],
    // Not IPv6: as it is.
    ["1.2.3.4", "1.2.3.4"],
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["not:an:address", "not:an:address"],
    ["fe80::1%eth0", "fe80::1%eth0"],
  ])("%s is %s", (text, canonical) => {
    expect(canonicalInetText(text)).toBe(canonical);
    expect(canonicalInetText(canonical)).toBe(canonical);
  });

  it("MariaDB's layout differs only by the single zero group", () => {
    const w = ipv6Words("1:0:2:3:4:5:6:7")!;
    expect(layoutIpv6(w, true)).toBe("1::2:3:4:5:6:7");
    expect(layoutIpv6(w, false)).toBe("1:0:2:3:4:5:6:7");
  });
});
