#!/usr/bin/python3
"""Generate the golden replay scenarios of NvDataplane (the independent oracle).

Every expected frame below is derived from docs/FORWARDING.md and /work/shared/SPEC.md
(sections 1-5), never from the C# implementation.  Section numbers in the comments
("1.9", "2.4", "3") refer to docs/FORWARDING.md.

Run with Debian's scapy:   /usr/bin/python3 captures/make_scenarios.py

The script is deterministic (fixed timestamps, fixed field values, our own pcap writer):
running it twice gives byte-identical files.  It deletes and rewrites every scenario folder
(every sub-folder of captures/ holding a scenario.json) and leaves other files alone.

Layout of one scenario folder captures/<name>/:
  config.json       host configuration (SPEC section 2)
  in/<port>.pcap    frames arriving on <port>
  expected/<port>.pcap  frames <port> must emit, in emission order (no file: emits nothing)
  scenario.json     description, inputs (replay --in order) and the expected replay summary
  frames.txt        human-readable account: one line per input frame and its fate
"""

import json
import logging
import os
import shutil
import socket
import struct

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, ICMP, TCP, UDP, IPOption_Router_Alert  # noqa: E402
from scapy.layers.dns import DNS, DNSQR  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6ND_NS, ICMPv6ND_NA,
    ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
    ICMPv6ND_Redirect, ICMPv6NDOptRedirectedHdr, ICMPv6DestUnreach)
from scapy.layers.dhcp import BOOTP, DHCP  # noqa: E402
from scapy.packet import Raw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------
# The cast (see the brief): host hv1, one remote host, tenants Red and Blue.
# --------------------------------------------------------------------------------------
GW_MAC = "00-15-5D-FF-FF-FF"          # global.gatewayMac
OUTER_TTL = 64                        # global.outerTtl
PNIC_MAC = "02-00-00-00-01-0A"        # hv1 provider port pnic0
HV2_MAC = "02-00-00-00-01-0B"         # remote host (next hop for 192.168.1.11 / ::11)
NAT_PEER_MAC = "02-00-00-00-01-15"    # next hop for the remote NAT PA 192.168.1.21

PA_LOCAL, PA_REMOTE = "192.168.1.10", "192.168.1.11"
PA6_LOCAL, PA6_REMOTE = "2001:db8:ffff::10", "2001:db8:ffff::11"

RED_RD = "{11111111-2222-3333-4444-000000000000}"
BLUE_RD = "{11111111-2222-3333-4444-000000000001}"
RED_VSID, RED2_VSID, BLUE_VSID = 5001, 5002, 6001

RED1_MAC, RED_REMOTE_MAC, RED3_MAC = "00-15-5D-00-00-01", "00-15-5D-00-00-02", "00-15-5D-00-00-03"
BLUE1_MAC, BLUE_REMOTE_MAC = "00-15-5D-00-01-01", "00-15-5D-00-01-02"

RED1_CA, REMOTE_CA = "10.1.1.7", "10.1.1.8"
RED_GW = "10.1.1.1"
RED6_LOCAL, RED6_REMOTE, RED6_GW = "2001:db8:1::7", "2001:db8:1::8", "2001:db8:1::1"

TS_BASE = 1700000000                  # input i has timestamp TS_BASE + i * 1 ms


# --------------------------------------------------------------------------------------
# Byte helpers
# --------------------------------------------------------------------------------------
def mac(text):
    """'00-15-5D-00-00-01' -> 6 bytes."""
    return bytes.fromhex(text.replace("-", "").replace(":", ""))


def ether(dst, src, ethertype, vlan=None):
    """Ethernet header as raw bytes (optionally with an 802.1Q tag)."""
    hdr = mac(dst) + mac(src)
    if vlan is not None:
        hdr += struct.pack("!HH", 0x8100, vlan)
    return hdr + struct.pack("!H", ethertype)


def pad60(frame):
    """Ethernet minimum-size padding (zeros) as a real NIC/VM would add it."""
    return frame + b"\x00" * max(0, 60 - len(frame))


def inet_checksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def payload(n, seed=0):
    """Deterministic, recognisable payload bytes."""
    return bytes((seed + i) & 0xFF for i in range(n))


def ip4(src, dst, l4, tos=0, ttl=64, ident=0x1000, df=True):
    """An IPv4 packet (bytes); scapy computes total length and every checksum."""
    return bytes(IP(src=src, dst=dst, tos=tos, ttl=ttl, id=ident,
                    flags="DF" if df else 0) / l4)


def ip6(src, dst, l4, tc=0, fl=0, hlim=64):
    """An IPv6 packet (bytes); scapy computes payload length and the transport checksum."""
    return bytes(IPv6(src=src, dst=dst, tc=tc, fl=fl, hlim=hlim) / l4)


def udp(sport, dport, n, seed=0, chksum=None):
    layer = UDP(sport=sport, dport=dport)
    if chksum is not None:
        layer.chksum = chksum
    return layer / Raw(payload(n, seed))


def tcp(sport, dport, flags="PA", seq=1000, ack=2000, n=0, seed=0):
    layer = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack if "A" in flags else 0,
                window=8192)
    return layer / Raw(payload(n, seed)) if n else layer


def icmp_echo(ident, seq, n, reply=False):
    return ICMP(type=0 if reply else 8, id=ident, seq=seq) / Raw(payload(n, 0x40))


def icmp6_echo(ident, seq, n, reply=False):
    cls = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    return cls(id=ident, seq=seq, data=payload(n, 0x60))


def ipv4_tos(packet):
    return packet[1]


def ipv6_tc(packet):
    return ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)


def gre(vsid, flow=0):
    """NVGRE header: flags/version 0x2000, protocol 0x6558, key = VSID << 8 | FlowID.
    Expected files carry FlowID 0 (the comparing test masks that byte)."""
    return struct.pack("!HHI", 0x2000, 0x6558, (vsid << 8) | flow)


def nvgre4(eth_dst, eth_src, pa_src, pa_dst, vsid, inner, tos, flow=0, ident=0, flags="DF",
           ttl=OUTER_TTL, frag=0):
    """Outer Ethernet + IPv4 (protocol 47) + GRE + inner frame (section 1.12)."""
    outer = IP(src=pa_src, dst=pa_dst, tos=tos, id=ident, flags=flags, frag=frag, ttl=ttl,
               proto=47) / Raw(gre(vsid, flow) + inner)
    return ether(eth_dst, eth_src, 0x0800) + bytes(outer)


def nvgre6(eth_dst, eth_src, pa_src, pa_dst, vsid, inner, tc, flow=0, fl=0, hlim=OUTER_TTL):
    """Outer Ethernet + IPv6 (next header 47) + GRE + inner frame (section 1.12).
    Expected files carry flow label 0 (the comparing test masks it)."""
    outer = IPv6(src=pa_src, dst=pa_dst, tc=tc, fl=fl, nh=47, hlim=hlim) / Raw(gre(vsid, flow) + inner)
    return ether(eth_dst, eth_src, 0x86DD) + bytes(outer)


def encap_expected4(inner_frame, inner_ip, vsid, pa_src=PA_LOCAL, pa_dst=PA_REMOTE,
                    next_hop_mac=HV2_MAC):
    """What section 1.12 makes of an inner frame over an IPv4 PA."""
    version = inner_ip[0] >> 4
    tos = ipv4_tos(inner_ip) if version == 4 else ipv6_tc(inner_ip)
    return nvgre4(next_hop_mac, PNIC_MAC, pa_src, pa_dst, vsid, inner_frame, tos)


def encap_expected6(inner_frame, inner_ip, vsid, pa_src=PA6_LOCAL, pa_dst=PA6_REMOTE,
                    next_hop_mac=HV2_MAC):
    """What section 1.12 makes of an inner frame over an IPv6 PA."""
    version = inner_ip[0] >> 4
    tc = ipv4_tos(inner_ip) if version == 4 else ipv6_tc(inner_ip)
    return nvgre6(next_hop_mac, PNIC_MAC, pa_src, pa_dst, vsid, inner_frame, tc)


def arp(op, sha, spa, tha, tpa):
    """28-byte Ethernet/IPv4 ARP body."""
    ip = lambda a: bytes(int(x) for x in a.split("."))  # noqa: E731
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac(sha) + ip(spa) + mac(tha) + ip(tpa)


def arp_request_frame(src_mac, spa, tpa, dst_mac="FF-FF-FF-FF-FF-FF"):
    """ARP request as a VM/host sends it (padded to 60 bytes like a real NIC)."""
    return pad60(ether(dst_mac, src_mac, 0x0806) + arp(1, src_mac, spa, "00-00-00-00-00-00", tpa))


def arp_reply_frame(req_mac, req_ip, answered_mac, target_ip):
    """Section 1.2: the 42-byte reply (no padding)."""
    frame = ether(req_mac, answered_mac, 0x0806) + arp(2, answered_mac, target_ip, req_mac, req_ip)
    assert len(frame) == 42
    return frame


def ns_frame(src_mac, src_ip, target, dst_ip=None, with_sll=True):
    """Neighbor solicitation (hop limit 255), to the solicited-node address by default."""
    if dst_ip is None:
        t = IPv6(dst=target).dst  # normalised
        last3 = bytes(IPv6(dst=t))[24 + 13:24 + 16]
        dst_ip = "ff02::1:ff%02x:%02x%02x" % tuple(last3)
    if dst_ip.startswith("ff02"):
        b = bytes(IPv6(dst=dst_ip))[24 + 12:24 + 16]
        eth_dst = "33-33-" + "-".join("%02X" % x for x in b)
    else:
        eth_dst = None
    body = ICMPv6ND_NS(tgt=target)
    if with_sll:
        body = body / ICMPv6NDOptSrcLLAddr(lladdr=src_mac.replace("-", ":"))
    return eth_dst, ip6(src_ip, dst_ip, body, hlim=255)


def na_frame(req_mac, req_ip, answered_mac, target, router):
    """Section 1.5 neighbor advertisement: 32-byte ICMPv6 body, hop limit 255."""
    if req_ip == "::":
        dst_ip, eth_dst, solicited = "ff02::1", "33-33-00-00-00-01", 0
    else:
        dst_ip, eth_dst, solicited = req_ip, req_mac, 1
    body = (ICMPv6ND_NA(R=1 if router else 0, S=solicited, O=1, tgt=target)
            / ICMPv6NDOptDstLLAddr(lladdr=answered_mac.replace("-", ":")))
    packet = ip6(target, dst_ip, body, tc=0, fl=0, hlim=255)
    assert len(packet) == 72 and packet[6] == 58
    return ether(eth_dst, answered_mac, 0x86DD) + packet


# --------------------------------------------------------------------------------------
# Configuration helpers (SPEC section 2)
# --------------------------------------------------------------------------------------
def provider_port(mtu=1500):
    return {"name": "pnic0", "role": "provider", "macAddress": PNIC_MAC, "mtu": mtu}


def vm_port(name, mac_address, vsid, vm_name):
    return {"name": name, "role": "vm", "macAddress": mac_address, "virtualSubnetId": vsid,
            "vmName": vm_name}


RED1_PORT = vm_port("red1", RED1_MAC, RED_VSID, "Red-1")
RED3_PORT = vm_port("red3", RED3_MAC, RED_VSID, "Red-3")
BLUE1_PORT = vm_port("blue1", BLUE1_MAC, BLUE_VSID, "Blue-1")


def pa(address, prefix_length):
    return {"address": address, "prefixLength": prefix_length, "vlanId": 0, "port": "pnic0"}


def neighbor(address, mac_address):
    return {"address": address, "macAddress": mac_address}


def record(ca, vsid, mac_address, pa_address, rule="TranslationMethodEncap", vm_name=None):
    r = {"customerAddress": ca, "virtualSubnetId": vsid, "macAddress": mac_address,
         "providerAddress": pa_address, "rule": rule, "type": "Static"}
    if vm_name:
        r["vmName"] = vm_name
    return r


def route(rdid, vsid, prefix, next_hop=None, metric=255):
    if next_hop is None:
        next_hop = "::" if ":" in prefix else "0.0.0.0"
    return {"routingDomainId": rdid, "virtualSubnetId": vsid, "destinationPrefix": prefix,
            "nextHop": next_hop, "metric": metric}


RED_RECORDS = [record(RED1_CA, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
               record(REMOTE_CA, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2")]
BLUE_RECORDS = [record(RED1_CA, BLUE_VSID, BLUE1_MAC, PA_LOCAL, vm_name="Blue-1"),
                record(REMOTE_CA, BLUE_VSID, BLUE_REMOTE_MAC, PA_REMOTE, vm_name="Blue-2")]
RED_ROUTES = [route(RED_RD, RED_VSID, "10.1.1.0/24")]
BLUE_ROUTES = [route(BLUE_RD, BLUE_VSID, "10.1.1.0/24")]


def make_config(ports, records, routes, pas=None, neighbors=None, provider_routes=None):
    return {
        "host": {"name": "hv1"},
        "global": {"gatewayMac": GW_MAC, "outerTtl": OUTER_TTL, "useExternalRouter": False},
        "ports": ports,
        "providerAddresses": pas if pas is not None else [pa(PA_LOCAL, 24)],
        "providerRoutes": provider_routes or [],
        "providerNeighbors": neighbors if neighbors is not None else [neighbor(PA_REMOTE, HV2_MAC)],
        "lookupRecords": records,
        "customerRoutes": routes,
    }


def red_blue_config(mtu=1500):
    """The default two-tenant host: red1 + blue1 on hv1, their peers on 192.168.1.11."""
    return make_config([provider_port(mtu), RED1_PORT, BLUE1_PORT],
                       RED_RECORDS + BLUE_RECORDS, RED_ROUTES + BLUE_ROUTES)


# --------------------------------------------------------------------------------------
# Scenario bookkeeping and file writing
# --------------------------------------------------------------------------------------
class Scenario:
    def __init__(self, name, description, config):
        self.name, self.description, self.config = name, description, config
        self.steps = []  # (port, frame, [(out_port, out_frame)], drop reason or None, note, µs waited)
        # ACL rule label -> hits (section 4), every rule of the config, in file order.
        self.acl_hits = {label: 0 for label in acl_labels(config.get("acls", []))}
        # Section 7: the Dynamic bindings held after the last frame, by VSID, family, address.
        self.learned = []
        # Section 8: migration counters by name (written only when one is nonzero), policy
        # reloads (before step index, config) and the time added to the steps that follow.
        self.migration = {name: 0 for name in MIGRATION_COUNTERS}
        self.reloads = []
        self.offset_us = 0

    def wait(self, seconds):
        """Frames from here on are stamped `seconds` later (grace periods, rate limits)."""
        self.offset_us += int(seconds * 1000000)

    def reload(self, config):
        """Section 8: the policy is replaced by `config` before the next frame (as SIGHUP)."""
        self.reloads.append((len(self.steps), config))

    def send(self, port, frame, out=(), drop=None, note="", acl=(), counts=(), consumed=False):
        """One input frame on `port`; `out` lists what it makes the dataplane emit, in order;
        `drop` names the reason when the frame is dropped (it may still cause an ICMP error);
        `acl` names the ACL rules that decided it (section 4: each evaluation's first match);
        `counts` names the migration counters it moves (section 8), `consumed` a message the
        host used up (neither forwarded nor dropped)."""
        assert out or drop or consumed, "%s: frame '%s' neither forwarded nor dropped" % (self.name, note)
        for name in counts:
            self.migration[name] += 1  # KeyError: a counter section 8 does not name
        assert drop != "acl_deny" or acl, "%s: '%s' denied by no rule" % (self.name, note)
        for label in acl:
            self.acl_hits[label] += 1  # KeyError: a label the config does not have
        self.steps.append((port, bytes(frame), [(p, bytes(f)) for p, f in out], drop, note, self.offset_us))


MIGRATION_COUNTERS = ["relayed", "relays_refused", "redirects_sent", "redirects_not_carried", "redirects_received",
                      "redirects_applied", "redirects_ignored", "redirects_untrusted",
                      "unreachables_sent", "unreachables_received", "rate_limited", "messages_lost"]


def step_time(i, offset_us):
    """(seconds, microseconds) of input i: TS_BASE + i ms, plus any wait before it."""
    us = i * 1000 + offset_us
    return (TS_BASE + us // 1000000, us % 1000000)


def acl_labels(rules):
    """Section 4: a rule's label is its name, else VSID/priority; a label already taken by an
    earlier rule gets #index (its place in acls) appended."""
    labels = []
    for i, rule in enumerate(rules):
        label = rule.get("name") or "%d/%d" % (rule["virtualSubnetId"], rule["priority"])
        while label in labels:
            label = "%s#%d" % (label, i)
        labels.append(label)
    return labels


def pcap_bytes(records):
    """Classic little-endian microsecond pcap, LINKTYPE_ETHERNET, snaplen 65535."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for (sec, usec), frame in records:
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    return b"".join(out)


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def write_scenario(sc):
    root = os.path.join(HERE, sc.name)
    port_names = [p["name"] for p in sc.config["ports"]]
    inputs, outputs = {}, {}
    counts = {p: {"rx": 0, "tx": 0} for p in port_names}
    drops = {}
    lines = []
    for i, (port, frame, out, drop, note, offset_us) in enumerate(sc.steps):
        assert i < 1000
        ts = step_time(i, offset_us)
        assert port in counts, port
        inputs.setdefault(port, []).append((ts, frame))
        counts[port]["rx"] += 1
        for out_port, out_frame in out:
            assert out_port in counts, out_port
            outputs.setdefault(out_port, []).append((ts, out_frame))
            counts[out_port]["tx"] += 1
        if drop:
            drops[drop] = drops.get(drop, 0) + 1
        fate = ", ".join("%s (%d bytes)" % (p, len(f)) for p, f in out) or "-"
        reloaded = ["reload-%d.json" % (n + 1) for n, (before, _c) in enumerate(sc.reloads) if before == i]
        if reloaded:
            lines.append("     policy replaced by %s" % ", ".join(reloaded))
        lines.append("%3d  %d.%06d  %-6s %5d bytes  -> %-34s drop: %-22s %s" % (
            i, ts[0], ts[1], port, len(frame), fate, drop or "-", note))
    for port, recs in inputs.items():
        write_file(os.path.join(root, "in", port + ".pcap"), pcap_bytes(recs))
    for port, recs in outputs.items():
        write_file(os.path.join(root, "expected", port + ".pcap"), pcap_bytes(recs))
    write_file(os.path.join(root, "config.json"), json.dumps(sc.config, indent=2) + "\n")
    scenario = {
        "description": sc.description,
        "inputs": [{"port": p, "file": "in/%s.pcap" % p} for p in inputs],  # first-use order
        "expected": {"ports": counts, "drops": dict(sorted(drops.items()))},
    }
    if sc.acl_hits:
        scenario["expected"]["acls"] = sc.acl_hits
    if sc.learned:
        scenario["expected"]["learned"] = sc.learned
    if any(sc.migration.values()):
        scenario["expected"]["migration"] = sc.migration
    for n, (before, config) in enumerate(sc.reloads, 1):
        name = "reload-%d.json" % n
        write_file(os.path.join(root, name), json.dumps(config, indent=2) + "\n")
        offset_us = sc.steps[before][5] if before < len(sc.steps) else sc.offset_us
        sec, usec = step_time(before, offset_us)
        scenario.setdefault("reloads", []).append({"atNs": sec * 1000000000 + usec * 1000, "config": name})
    write_file(os.path.join(root, "scenario.json"), json.dumps(scenario, indent=2) + "\n")
    write_file(os.path.join(root, "frames.txt"),
               "# %s: %s\n# idx timestamp port size -> emitted on, drop reason, what\n%s\n"
               % (sc.name, sc.description, "\n".join(lines)))


# --------------------------------------------------------------------------------------
# Frame builders for the usual cast
# --------------------------------------------------------------------------------------
def red1_frame(dst_mac, packet, ethertype=0x0800, src_mac=RED1_MAC):
    return ether(dst_mac, src_mac, ethertype) + packet


def decap_input4(vsid, inner_frame, inner_ip, pa_src=PA_REMOTE, pa_dst=PA_LOCAL, flow=0x37,
                 src_mac=HV2_MAC, **kw):
    """An NVGRE frame as the remote host sends it (any FlowID, outer id nonzero)."""
    tos = ipv4_tos(inner_ip) if inner_ip[0] >> 4 == 4 else ipv6_tc(inner_ip)
    return nvgre4(PNIC_MAC, src_mac, pa_src, pa_dst, vsid, inner_frame, tos, flow=flow,
                  ident=kw.pop("ident", 0), **kw)


# ======================================================================================
# The scenarios
# ======================================================================================
def s_encap_ipv4():
    sc = Scenario("encap-ipv4",
                  "red1 sends ICMP, UDP and TCP to the remote Red VM 10.1.1.8: each becomes one "
                  "NVGRE frame on pnic0 (IPv4 PA, VSID 5001, TOS copied, padding removed).",
                  red_blue_config())
    cases = [
        ("ICMP echo request", ip4(RED1_CA, REMOTE_CA, icmp_echo(0x100, 1, 32), ident=0x1001), False),
        ("UDP 40000->53", ip4(RED1_CA, REMOTE_CA, udp(40000, 33053, 20, 1), ident=0x1002, df=False), False),
        ("TCP SYN 40001->80", ip4(RED1_CA, REMOTE_CA, tcp(40001, 80, "S", seq=999), ident=0x1003), False),
        ("TCP data, TOS 0xB8", ip4(RED1_CA, REMOTE_CA, tcp(40001, 80, "PA", n=100, seed=3),
                                   tos=0xB8, ident=0x1004), False),
        ("UDP with Ethernet padding (IP 32 bytes in a 60-byte frame)",
         ip4(RED1_CA, REMOTE_CA, udp(40002, 9, 4, 5), ident=0x1005), True),
        ("ICMP echo request, TOS 0x03 (ECN bits copied too)",
         ip4(RED1_CA, REMOTE_CA, icmp_echo(0x100, 2, 56), tos=0x03, ident=0x1006), False),
    ]
    for note, packet, padded in cases:
        inner = red1_frame(RED_REMOTE_MAC, packet)
        frame = pad60(inner) if padded else inner
        if padded:
            assert len(frame) == 60 and len(inner) == 46
        sc.send("red1", frame, [("pnic0", encap_expected4(inner, packet, RED_VSID))], note=note)
    return sc


def s_decap_ipv4():
    sc = Scenario("decap-ipv4",
                  "NVGRE from 192.168.1.11 for Red (VSID 5001) and Blue (VSID 6001), both with CA "
                  "10.1.1.7: inner frames delivered unchanged to red1 resp. blue1 only.",
                  red_blue_config())
    cases = [
        ("ICMP echo request", lambda: icmp_echo(0x200, 1, 32)),
        ("UDP 33053->40000", lambda: udp(33053, 40000, 40, 7)),
        ("TCP SYN-ACK 80->40001", lambda: tcp(80, 40001, "SA", seq=99, ack=8)),
    ]
    n = 0
    for vsid, port, src_mac, dst_mac in ((RED_VSID, "red1", RED_REMOTE_MAC, RED1_MAC),
                                         (BLUE_VSID, "blue1", BLUE_REMOTE_MAC, BLUE1_MAC)):
        for note, l4 in cases:
            n += 1
            packet = ip4(REMOTE_CA, RED1_CA, l4(), ident=0x2000 + n, tos=0xB8 if n == 2 else 0)
            inner = ether(dst_mac, src_mac, 0x0800) + packet
            sc.send("pnic0", decap_input4(vsid, inner, packet, flow=0x30 + n, ident=0x100 + n),
                    [(port, inner)], note="VSID %d %s" % (vsid, note))
    return sc


def s_encap_decap_ipv6_pa():
    cfg = make_config([provider_port(), RED1_PORT],
                      [record(RED1_CA, RED_VSID, RED1_MAC, PA6_LOCAL, vm_name="Red-1"),
                       record(REMOTE_CA, RED_VSID, RED_REMOTE_MAC, PA6_REMOTE, vm_name="Red-2")],
                      RED_ROUTES,
                      pas=[pa(PA_LOCAL, 24), pa(PA6_LOCAL, 64)],
                      neighbors=[neighbor(PA_REMOTE, HV2_MAC), neighbor(PA6_REMOTE, HV2_MAC)])
    sc = Scenario("encap-decap-ipv6-pa",
                  "IPv4 CAs over IPv6 PAs (2001:db8:ffff::10 local, ::11 remote): encapsulation "
                  "with an outer IPv6 header, decapsulation of NVGRE over IPv6, ND and ping for "
                  "the IPv6 PA.", cfg)
    out_cases = [
        ("ICMP echo request", ip4(RED1_CA, REMOTE_CA, icmp_echo(0x300, 1, 32), ident=0x3001)),
        ("UDP, TOS 0xB8", ip4(RED1_CA, REMOTE_CA, udp(40000, 5004, 160, 9), tos=0xB8, ident=0x3002)),
        ("TCP data", ip4(RED1_CA, REMOTE_CA, tcp(40001, 33443, "PA", n=64, seed=1), ident=0x3003)),
    ]
    for note, packet in out_cases:
        inner = red1_frame(RED_REMOTE_MAC, packet)
        sc.send("red1", inner, [("pnic0", encap_expected6(inner, packet, RED_VSID))],
                note="encap over IPv6: " + note)
    in_cases = [
        ("ICMP echo reply", ip4(REMOTE_CA, RED1_CA, icmp_echo(0x300, 1, 32, reply=True), ident=0x3101)),
        ("UDP", ip4(REMOTE_CA, RED1_CA, udp(5004, 40000, 80, 2), ident=0x3102)),
        ("TCP, TOS 0x28", ip4(REMOTE_CA, RED1_CA, tcp(33443, 40001, "A", n=10, seed=4), tos=0x28, ident=0x3103)),
    ]
    for k, (note, packet) in enumerate(in_cases):
        inner = ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + packet
        frame = nvgre6(PNIC_MAC, HV2_MAC, PA6_REMOTE, PA6_LOCAL, RED_VSID, inner,
                       ipv4_tos(packet), flow=0x50 + k, fl=0x12345 + k)
        sc.send("pnic0", frame, [("red1", inner)], note="decap from IPv6 PA: " + note)
    # 2.3: neighbor solicitation for the local IPv6 PA (unicast, as in NUD) -> NA, flags S|O.
    _, ns = ns_frame(HV2_MAC, PA6_REMOTE, PA6_LOCAL, dst_ip=PA6_LOCAL)
    sc.send("pnic0", ether(PNIC_MAC, HV2_MAC, 0x86DD) + ns,
            [("pnic0", na_frame(HV2_MAC, PA6_REMOTE, PNIC_MAC, PA6_LOCAL, router=False))],
            note="unicast NS for the local IPv6 PA -> NA (S|O, pnic0 MAC)")
    # 2.3 / 1.9: ICMPv6 echo to the local PA -> reply with hop limit outerTtl.
    req = ip6(PA6_REMOTE, PA6_LOCAL, icmp6_echo(0x77, 3, 24), tc=0x20, fl=0xABCDE, hlim=60)
    rep = ip6(PA6_LOCAL, PA6_REMOTE, icmp6_echo(0x77, 3, 24, reply=True), tc=0x20, fl=0xABCDE,
              hlim=OUTER_TTL)
    sc.send("pnic0", ether(PNIC_MAC, HV2_MAC, 0x86DD) + req,
            [("pnic0", ether(HV2_MAC, PNIC_MAC, 0x86DD) + rep)],
            note="ICMPv6 echo to the local PA -> reply, hop limit 64")
    return sc


def s_ipv6_ca():
    cfg = make_config([provider_port(), RED1_PORT],
                      RED_RECORDS + [record(RED6_LOCAL, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
                                     record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2")],
                      RED_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")])
    sc = Scenario("ipv6-ca",
                  "IPv6 CAs (2001:db8:1::7 local, ::8 remote) over IPv4 PAs: neighbor discovery "
                  "answered locally (record and gateway, incl. DAD from ::), ping to the IPv6 "
                  "gateway, UDP/TCP/ICMPv6 encapsulated, NVGRE with an IPv6 inner frame delivered.",
                  cfg)
    # 1.5: NS for the remote VM -> NA from its record MAC, flags S|O.
    eth_dst, ns = ns_frame(RED1_MAC, RED6_LOCAL, RED6_REMOTE)
    sc.send("red1", ether(eth_dst, RED1_MAC, 0x86DD) + ns,
            [("red1", na_frame(RED1_MAC, RED6_LOCAL, RED_REMOTE_MAC, RED6_REMOTE, router=False))],
            note="NS for ::8 -> NA S|O with 00-15-5D-00-00-02")
    # 1.5: NS for the gateway address -> NA from the gateway MAC, flags R|S|O.
    eth_dst, ns = ns_frame(RED1_MAC, RED6_LOCAL, RED6_GW)
    sc.send("red1", ether(eth_dst, RED1_MAC, 0x86DD) + ns,
            [("red1", na_frame(RED1_MAC, RED6_LOCAL, GW_MAC, RED6_GW, router=True))],
            note="NS for gateway ::1 -> NA R|S|O with the gateway MAC")
    # 1.5: DAD-style NS from :: for ::8 -> NA to ff02::1, flags without S (= O only).
    eth_dst, ns = ns_frame(RED1_MAC, "::", RED6_REMOTE, with_sll=False)
    sc.send("red1", ether(eth_dst, RED1_MAC, 0x86DD) + ns,
            [("red1", na_frame(RED1_MAC, "::", RED_REMOTE_MAC, RED6_REMOTE, router=False))],
            note="NS from :: for ::8 -> NA to ff02::1, flags O")
    # 1.5: NS for its own address -> the record's MAC is the requester's: arp_unresolved.
    eth_dst, ns = ns_frame(RED1_MAC, RED6_LOCAL, RED6_LOCAL)
    sc.send("red1", ether(eth_dst, RED1_MAC, 0x86DD) + ns, drop="arp_unresolved",
            note="NS for its own ::7")
    # 1.5: NS for an unknown address.
    eth_dst, ns = ns_frame(RED1_MAC, RED6_LOCAL, "2001:db8:1::50")
    sc.send("red1", ether(eth_dst, RED1_MAC, 0x86DD) + ns, drop="arp_unresolved",
            note="NS for unknown ::50")
    # 1.9: ICMPv6 echo to the IPv6 gateway address.
    req = ip6(RED6_LOCAL, RED6_GW, icmp6_echo(0x44, 1, 16), tc=0x10, fl=0x11111, hlim=128)
    rep = ip6(RED6_GW, RED6_LOCAL, icmp6_echo(0x44, 1, 16, reply=True), tc=0x10, fl=0x11111, hlim=64)
    sc.send("red1", ether(GW_MAC, RED1_MAC, 0x86DD) + req,
            [("red1", ether(RED1_MAC, GW_MAC, 0x86DD) + rep)], note="ping6 the gateway ::1")
    # 1.12: encapsulation of IPv6 inner packets over the IPv4 PA.
    cases = [
        ("UDP", ip6(RED6_LOCAL, RED6_REMOTE, udp(40000, 33053, 30, 2), fl=0x12345)),
        ("TCP, traffic class 0xB8", ip6(RED6_LOCAL, RED6_REMOTE, tcp(40001, 80, "S", seq=5), tc=0xB8)),
        ("ICMPv6 echo request", ip6(RED6_LOCAL, RED6_REMOTE, icmp6_echo(0x45, 1, 40))),
    ]
    for note, packet in cases:
        inner = red1_frame(RED_REMOTE_MAC, packet, 0x86DD)
        sc.send("red1", inner, [("pnic0", encap_expected4(inner, packet, RED_VSID))],
                note="encap IPv6 CA: " + note)
    # 2.4: NVGRE carrying IPv6 inner frames, delivered as carried.
    cases = [
        ("ICMPv6 echo reply", ip6(RED6_REMOTE, RED6_LOCAL, icmp6_echo(0x45, 1, 40, reply=True))),
        ("UDP, traffic class 0x48", ip6(RED6_REMOTE, RED6_LOCAL, udp(33053, 40000, 70, 8), tc=0x48, fl=0x54321)),
    ]
    for note, packet in cases:
        inner = ether(RED1_MAC, RED_REMOTE_MAC, 0x86DD) + packet
        sc.send("pnic0", decap_input4(RED_VSID, inner, packet, flow=0x99), [("red1", inner)],
                note="decap IPv6 CA: " + note)
    return sc


def rfc1624(old_ck, old_bytes, new_bytes):
    """Incremental checksum update, RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    total = (~old_ck) & 0xFFFF
    for i in range(0, len(old_bytes), 2):
        m = struct.unpack("!H", old_bytes[i:i + 2])[0]
        m2 = struct.unpack("!H", new_bytes[i:i + 2])[0]
        total += ((~m) & 0xFFFF) + m2
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def check_nat_rewrite(before, after):
    """The expected NAT packet (full recompute by scapy) must equal what RFC 1624 gives."""
    addr_old, addr_new = before[12:20], after[12:20]
    assert struct.unpack("!H", after[10:12])[0] == rfc1624(
        struct.unpack("!H", before[10:12])[0], addr_old, addr_new)
    off = {6: 16, 17: 6}[before[9]] + 20
    old_ck = struct.unpack("!H", before[off:off + 2])[0]
    new_ck = struct.unpack("!H", after[off:off + 2])[0]
    if before[9] == 17 and old_ck == 0:
        assert new_ck == 0
        return
    expect = rfc1624(old_ck, addr_old, addr_new)
    if before[9] == 17 and expect == 0:
        expect = 0xFFFF
    assert new_ck == expect, (hex(new_ck), hex(expect))


def check_nat_rewrite6(before, after, checksum_offset):
    """IPv6: the expected packet (full recompute by scapy) must carry the RFC 1624 update of the
    transport checksum at `checksum_offset` (from the IPv6 header) over the changed addresses."""
    old_ck = struct.unpack("!H", before[checksum_offset:checksum_offset + 2])[0]
    new_ck = struct.unpack("!H", after[checksum_offset:checksum_offset + 2])[0]
    assert new_ck == rfc1624(old_ck, before[8:40], after[8:40]), (hex(new_ck), hex(old_ck))


def na6(src, dst, target, target_mac):
    """A neighbor advertisement (flags S|O, target link-layer address option), hop limit 255."""
    return ip6(src, dst, ICMPv6ND_NA(R=0, S=1, O=1, tgt=target)
               / ICMPv6NDOptDstLLAddr(lladdr=target_mac.replace("-", ":")), hlim=255)


def s_nat():
    nat = "TranslationMethodNat"
    red9_ca6, red9_mac = "2001:db8:1::9", "00-15-5D-00-00-09"
    cfg = make_config([provider_port(), RED1_PORT],
                      [record(RED1_CA, RED_VSID, RED1_MAC, "192.168.1.20", nat, "Red-1"),
                       record(REMOTE_CA, RED_VSID, RED_REMOTE_MAC, "192.168.1.21", nat, "Red-2"),
                       record(RED6_LOCAL, RED_VSID, RED1_MAC, "2001:db8:ffff::20", nat, "Red-1"),
                       record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, "2001:db8:ffff::21", nat, "Red-2"),
                       record(red9_ca6, RED_VSID, red9_mac, "2001:db8:ffff::22", nat, "Red-9")],
                      RED_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")],
                      pas=[pa(PA_LOCAL, 24), pa("192.168.1.20", 24), pa("2001:db8:ffff::20", 64)],
                      neighbors=[neighbor(PA_REMOTE, HV2_MAC), neighbor("192.168.1.21", NAT_PEER_MAC)])
    sc = Scenario("nat",
                  "TranslationMethodNat: red1 (10.1.1.7 <-> 192.168.1.20) talks to 10.1.1.8 "
                  "(<-> 192.168.1.21): addresses rewritten in place both ways, checksums updated, "
                  "a zero UDP checksum kept zero, TTL unchanged, padding removed; over IPv6 PAs "
                  "(2001:db8:1::7 <-> ::20) the Nat PAs' MACs are learned by neighbor discovery, "
                  "never from a VM's own advertisement.", cfg)
    A, B = "192.168.1.20", "192.168.1.21"
    # 1.13 outbound: same packet with CA -> PA, Ethernet dst = next-hop MAC, src = pnic0 MAC.
    out_cases = [
        ("TCP SYN", lambda s, d: ip4(s, d, tcp(40001, 80, "S", seq=999), ident=0x5001, ttl=128), False),
        ("TCP data", lambda s, d: ip4(s, d, tcp(40001, 80, "PA", n=77, seed=9), ident=0x5002, ttl=128), False),
        ("UDP", lambda s, d: ip4(s, d, udp(40002, 33053, 33, 4), ident=0x5003, tos=0xB8), False),
        ("UDP with checksum 0", lambda s, d: ip4(s, d, udp(40003, 514, 25, 6, chksum=0),
                                                 ident=0x5004, df=False), False),
        ("UDP, padded 60-byte frame", lambda s, d: ip4(s, d, udp(40004, 7, 2, 1), ident=0x5005), True),
    ]
    for note, build, padded in out_cases:
        sent = build(RED1_CA, REMOTE_CA)
        rewritten = build(A, B)
        check_nat_rewrite(sent, rewritten)
        frame = red1_frame(RED_REMOTE_MAC, sent)
        if padded:
            frame = pad60(frame)
        sc.send("red1", frame, [("pnic0", ether(NAT_PEER_MAC, PNIC_MAC, 0x0800) + rewritten)],
                note="NAT out: " + note)
    # 2.5 reverse: from PA .21 to PA .20, rewritten to 10.1.1.8 -> 10.1.1.7 for red1.
    in_cases = [
        ("TCP SYN-ACK", lambda s, d: ip4(s, d, tcp(80, 40001, "SA", seq=500, ack=12), ident=0x6001, ttl=57), False),
        ("UDP", lambda s, d: ip4(s, d, udp(33053, 40002, 90, 3), ident=0x6002, ttl=57), False),
        ("UDP with checksum 0, padded", lambda s, d: ip4(s, d, udp(514, 40003, 3, 2, chksum=0),
                                                         ident=0x6003, ttl=57), True),
    ]
    for note, build, padded in in_cases:
        arriving = ether(PNIC_MAC, NAT_PEER_MAC, 0x0800) + build(B, A)
        check_nat_rewrite(build(B, A), build(REMOTE_CA, RED1_CA))
        if padded:
            arriving = pad60(arriving)
        sc.send("pnic0", arriving,
                [("red1", ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + build(REMOTE_CA, RED1_CA))],
                note="NAT in: " + note)
    # 2.5: a non-GRE packet from a PA without a Nat record -> no_lookup_record.
    sc.send("pnic0", ether(PNIC_MAC, HV2_MAC, 0x0800) + ip4(PA_REMOTE, A, udp(33053, 40002, 10)),
            drop="no_lookup_record", note="UDP to the NAT PA from 192.168.1.11 (no Nat record)")
    # 2.5: a non-GRE packet to a local PA that is not a Nat PA -> not_nvgre.
    sc.send("pnic0", ether(PNIC_MAC, NAT_PEER_MAC, 0x0800) + ip4(B, PA_LOCAL, udp(33053, 40002, 10)),
            drop="not_nvgre", note="UDP from the NAT peer to 192.168.1.10 (not a Nat PA)")
    # 2.6: ICMP errors from a provider router about a packet red1's PA sent: the quote is
    # rewritten back to CAs, the error comes from red1's gateway 10.1.1.1 (scapy computes every
    # checksum of the expected frame afresh; the quoted transport checksum is the CA packet's).
    router, router_mac = "192.168.1.1", "02-00-00-00-01-01"
    data = lambda s, d: ip4(s, d, tcp(40001, 80, "PA", n=77, seed=9), ident=0x5002, ttl=128)
    sc.send("pnic0", ether(PNIC_MAC, router_mac, 0x0800) + icmp_error4(router, A, 3, 4, 1400, data(A, B)),
            [("red1", ether(RED1_MAC, GW_MAC, 0x0800) + icmp_error4(RED_GW, RED1_CA, 3, 4, 1400, data(RED1_CA, REMOTE_CA)))],
            note="fragmentation needed (MTU 1400) from router 192.168.1.1 about TCP data: to red1 from 10.1.1.1")
    dns = lambda s, d: ip4(s, d, udp(40002, 33053, 33, 4), ident=0x5003, ttl=1)
    sc.send("pnic0", ether(PNIC_MAC, router_mac, 0x0800) + icmp_error4(router, A, 11, 0, 0, dns(A, B)[:28]),
            [("red1", ether(RED1_MAC, GW_MAC, 0x0800) + icmp_error4(RED_GW, RED1_CA, 11, 0, 0, dns(RED1_CA, REMOTE_CA)[:28]))],
            note="time exceeded from the router quoting 8 UDP bytes (checksum rewritten): to red1 from 10.1.1.1")
    sc.send("pnic0", ether(PNIC_MAC, router_mac, 0x0800) + icmp_error4(router, A, 11, 0, 0, dns(PA_LOCAL, B)[:28]),
            drop="no_lookup_record", note="time exceeded at the Nat PA about a packet from 192.168.1.10")
    sc.send("pnic0", ether(PNIC_MAC, router_mac, 0x0800) + icmp_error4(router, A, 3, 4, 1400, data(A, B)[:12]),
            drop="truncated", note="fragmentation needed quoting 12 bytes, less than an IP header")
    # A VM's own error between the Nat PAs quotes CAs already: only the outer addresses change.
    unreachable = lambda s, d: icmp_error4(s, d, 3, 3, 0, ip4(RED1_CA, REMOTE_CA, udp(40002, 33053, 20, 4), ident=0x5006))
    sc.send("pnic0", ether(PNIC_MAC, NAT_PEER_MAC, 0x0800) + unreachable(B, A),
            [("red1", ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + unreachable(REMOTE_CA, RED1_CA))],
            note="port unreachable from red2 (NAT peer), quoting CAs: NAT in, quote kept")
    # 1.12 over IPv6 PAs without static neighbors: the Nat PAs ::21 (Red-2) and ::22 (Red-9) are
    # solicited from red1's Nat PA ::20, and the packet waits for the answer.
    A6, B6, C6 = "2001:db8:ffff::20", "2001:db8:ffff::21", "2001:db8:ffff::22"
    peer6_mac, red9_host_mac, forged_mac = NAT_PEER_MAC, "02-00-00-00-01-16", "DE-AD-BE-EF-00-01"
    to_red2 = lambda s, d: ip6(s, d, udp(40005, 33440, 20, 5))  # noqa: E731
    to_red9 = lambda s, d: ip6(s, d, udp(40006, 33441, 20, 6))  # noqa: E731
    check_nat_rewrite6(to_red2(RED6_LOCAL, RED6_REMOTE), to_red2(A6, B6), 46)
    check_nat_rewrite6(to_red9(RED6_LOCAL, red9_ca6), to_red9(A6, C6), 46)
    ns_dst, ns = ns_frame(PNIC_MAC, A6, B6)
    sc.send("red1", red1_frame(RED_REMOTE_MAC, to_red2(RED6_LOCAL, RED6_REMOTE), 0x86DD),
            [("pnic0", ether(ns_dst, PNIC_MAC, 0x86DD) + ns)],
            note="NAT out over IPv6 PAs: NS for Red-2's Nat PA ::21, the packet waits")
    # Hosts answer neighbor discovery for their Nat PAs: an answer for ::21 from ::21 is learned.
    sc.send("pnic0", ether(PNIC_MAC, peer6_mac, 0x86DD) + na6(B6, A6, B6, peer6_mac),
            [("pnic0", ether(peer6_mac, PNIC_MAC, 0x86DD) + to_red2(A6, B6))],
            note="NA from ::21 for ::21 (its host): learned and consumed, the packet leaves")
    ns_dst, ns = ns_frame(PNIC_MAC, A6, C6)
    sc.send("red1", red1_frame(red9_mac, to_red9(RED6_LOCAL, red9_ca6), 0x86DD),
            [("pnic0", ether(ns_dst, PNIC_MAC, 0x86DD) + ns)],
            note="NAT out to Red-9: NS for its Nat PA ::22, the packet waits")
    # Red-2's own advertisement "::22 is at de:ad:be:ef:00:01", as its host rewrote it (IP
    # rewrite keeps hop limit 255, target and option): a VM's packet, NAT reversed to red1 with
    # the ICMPv6 checksum updated; the neighbor cache learns nothing from it.
    forged = na6(B6, A6, C6, forged_mac)
    reversed_na = na6(RED6_REMOTE, RED6_LOCAL, C6, forged_mac)
    check_nat_rewrite6(forged, reversed_na, 42)
    sc.send("pnic0", ether(PNIC_MAC, peer6_mac, 0x86DD) + forged,
            [("red1", ether(RED1_MAC, RED_REMOTE_MAC, 0x86DD) + reversed_na)],
            note="NA from Nat PA ::21 for ::22 (Red-2's own): NAT in to red1, not learned")
    sc.send("pnic0", ether(PNIC_MAC, red9_host_mac, 0x86DD) + na6(C6, A6, C6, red9_host_mac),
            [("pnic0", ether(red9_host_mac, PNIC_MAC, 0x86DD) + to_red9(A6, C6))],
            note="NA from ::22 for ::22: learned, the packet leaves to its MAC")
    return sc


def icmp_error4(src, dst, icmp_type, code, mtu_value, quote, ttl=62, ident=0x7001):
    """An ICMP error as a router sends it (RFC 792 / 1191): the word after the checksum holds the MTU."""
    body = struct.pack("!BBHHH", icmp_type, code, 0, 0, mtu_value) + quote
    body = body[:2] + struct.pack("!H", inet_checksum(body)) + body[4:]
    return bytes(IP(src=src, dst=dst, tos=0, id=ident, flags=0, ttl=ttl, proto=1) / Raw(body))


def s_same_host():
    cfg = make_config([provider_port(), RED1_PORT, RED3_PORT],
                      RED_RECORDS + [record("10.1.1.9", RED_VSID, RED3_MAC, PA_LOCAL, vm_name="Red-3"),
                                     record("10.1.1.10", RED_VSID, "00-15-5D-00-00-0A", PA_LOCAL,
                                            vm_name="Red-gone")],
                      RED_ROUTES)
    sc = Scenario("same-host",
                  "Two Red VMs on hv1 (red1 10.1.1.7, red3 10.1.1.9, same PA): red1 -> red3 is "
                  "delivered directly to red3 (padding removed), nothing on pnic0; a local record "
                  "without a port is no_local_port.", cfg)
    cases = [
        ("ICMP echo", ip4(RED1_CA, "10.1.1.9", icmp_echo(0x900, 1, 32), ident=0x9001), False),
        ("UDP", ip4(RED1_CA, "10.1.1.9", udp(40000, 33053, 100, 1), ident=0x9002, tos=0xB8), False),
        ("TCP SYN", ip4(RED1_CA, "10.1.1.9", tcp(40001, 22, "S", seq=3), ident=0x9003), False),
        ("UDP, padded 60-byte frame", ip4(RED1_CA, "10.1.1.9", udp(40002, 9, 6, 1), ident=0x9004), True),
    ]
    for note, packet, padded in cases:
        frame = red1_frame(RED3_MAC, packet)
        sc.send("red1", pad60(frame) if padded else frame, [("red3", frame)],
                note="red1 -> red3: " + note)
    back = ip4("10.1.1.9", RED1_CA, icmp_echo(0x900, 1, 32, reply=True), ident=0x9101)
    sc.send("red3", ether(RED1_MAC, RED3_MAC, 0x0800) + back,
            [("red1", ether(RED1_MAC, RED3_MAC, 0x0800) + back)], note="red3 -> red1: echo reply")
    sc.send("red1", red1_frame("00-15-5D-00-00-0A", ip4(RED1_CA, "10.1.1.10", udp(40005, 33053, 8))),
            drop="no_local_port", note="to 10.1.1.10: record PA local, but no port has its MAC")
    return sc


def s_overlapping_tenants():
    cfg = red_blue_config()
    cfg["lookupRecords"].append(record("10.1.1.9", RED_VSID, "00-15-5D-00-00-09", PA_REMOTE,
                                       vm_name="Red-9"))
    sc = Scenario("overlapping-tenants",
                  "Red and Blue both use 10.1.1.0/24: each reaches its own 10.1.1.8 with its own "
                  "VSID; Blue cannot reach Red's 10.1.1.9 (isolation); NVGRE VSID 6001 reaches "
                  "blue1 only and VSID 5001 red1 only.", cfg)
    red_pkt = ip4(RED1_CA, REMOTE_CA, udp(40000, 33053, 24, 1), ident=0x7001)
    red_frame = red1_frame(RED_REMOTE_MAC, red_pkt)
    sc.send("red1", red_frame, [("pnic0", encap_expected4(red_frame, red_pkt, RED_VSID))],
            note="Red 10.1.1.7 -> 10.1.1.8: VSID 5001")
    blue_pkt = ip4(RED1_CA, REMOTE_CA, udp(40000, 33053, 24, 1), ident=0x7001)
    blue_frame = ether(BLUE_REMOTE_MAC, BLUE1_MAC, 0x0800) + blue_pkt
    sc.send("blue1", blue_frame, [("pnic0", encap_expected4(blue_frame, blue_pkt, BLUE_VSID))],
            note="Blue 10.1.1.7 -> 10.1.1.8 (same IP packet): VSID 6001")
    sc.send("blue1", ether("00-15-5D-00-00-09", BLUE1_MAC, 0x0800)
            + ip4(RED1_CA, "10.1.1.9", udp(40000, 33053, 24, 1), ident=0x7002),
            drop="isolation", note="Blue -> 10.1.1.9 (only Red has that CA)")
    blue_in = ip4(REMOTE_CA, RED1_CA, udp(33053, 40000, 30, 5), ident=0x7101)
    inner = ether(BLUE1_MAC, BLUE_REMOTE_MAC, 0x0800) + blue_in
    sc.send("pnic0", decap_input4(BLUE_VSID, inner, blue_in, flow=0x11), [("blue1", inner)],
            note="NVGRE VSID 6001 to 10.1.1.7 -> blue1 only")
    red_in = ip4(REMOTE_CA, RED1_CA, udp(33053, 40000, 30, 5), ident=0x7101)
    inner = ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + red_in
    sc.send("pnic0", decap_input4(RED_VSID, inner, red_in, flow=0x11), [("red1", inner)],
            note="NVGRE VSID 5001 to 10.1.1.7 -> red1 only")
    return sc


def s_spoofed_source():
    sc = Scenario("spoofed-source",
                  "Anti-spoofing and lookup failures on a vm port: foreign source MAC, unknown "
                  "source CA, VLAN tag, unknown destination CA, a source CA of another VM.",
                  red_blue_config())
    good = ip4(RED1_CA, REMOTE_CA, udp(40000, 33053, 20, 1), ident=0x8001)
    sc.send("red1", red1_frame(RED_REMOTE_MAC, good, src_mac="00-15-5D-00-00-66"),
            drop="spoofed_source", note="source MAC 00-15-5D-00-00-66 is not red1's")
    sc.send("red1", red1_frame(RED_REMOTE_MAC, ip4("10.1.1.99", REMOTE_CA, udp(40000, 33053, 20, 1))),
            drop="spoofed_source", note="source CA 10.1.1.99 has no record")
    sc.send("red1", ether(RED_REMOTE_MAC, RED1_MAC, 0x0800, vlan=10) + good,
            drop="vlan_tagged", note="802.1Q tag VID 10")
    sc.send("red1", ether(RED_REMOTE_MAC, RED1_MAC, 0x0800, vlan=0) + good,
            drop="vlan_tagged", note="802.1Q priority tag VID 0")
    sc.send("red1", red1_frame("00-15-5D-00-00-50", ip4(RED1_CA, "10.1.1.50", udp(40000, 33053, 20, 1))),
            drop="no_lookup_record", note="destination CA 10.1.1.50 has no record anywhere")
    sc.send("red1", red1_frame(RED1_MAC, ip4(REMOTE_CA, RED1_CA, udp(40000, 33053, 20, 1))),
            drop="spoofed_source", note="source CA 10.1.1.8 (record MAC is not red1's)")
    sc.send("blue1", ether(BLUE_REMOTE_MAC, RED1_MAC, 0x0800) + good,
            drop="spoofed_source", note="blue1 sends with red1's MAC")
    # control: the well-formed packet does go out.
    frame = red1_frame(RED_REMOTE_MAC, good)
    sc.send("red1", frame, [("pnic0", encap_expected4(frame, good, RED_VSID))],
            note="control: the same packet, untagged and correct")
    return sc


def s_spoofed_outer_pa():
    sc = Scenario("spoofed-outer-pa",
                  "NVGRE whose outer source PA does not match the inner source CA's record: "
                  "pa_mismatch; the genuine frame is delivered.", red_blue_config())
    pkt = ip4(REMOTE_CA, RED1_CA, udp(33053, 40000, 20, 1), ident=0x8101)
    inner = ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + pkt
    sc.send("pnic0", decap_input4(RED_VSID, inner, pkt, pa_src="192.168.1.99"),
            drop="pa_mismatch", note="inner src 10.1.1.8 but outer src 192.168.1.99")
    pkt66 = ip4("10.1.1.66", RED1_CA, udp(33053, 40000, 20, 1), ident=0x8102)
    inner66 = ether(RED1_MAC, "00-15-5D-00-00-66", 0x0800) + pkt66
    sc.send("pnic0", decap_input4(RED_VSID, inner66, pkt66),
            drop="pa_mismatch", note="inner src 10.1.1.66 has no record (and no wildcard)")
    sc.send("pnic0", decap_input4(RED_VSID, inner, pkt), [("red1", inner)],
            note="control: inner src 10.1.1.8 from its PA 192.168.1.11")
    return sc


def s_malformed_gre():
    sc = Scenario("malformed-gre",
                  "Frames on pnic0 that must be refused, one per reason (section 2.4 order), and "
                  "one well-formed control frame.", red_blue_config())
    pkt = ip4(REMOTE_CA, RED1_CA, udp(33053, 40000, 20, 1), ident=0xA001)
    inner = ether(RED1_MAC, RED_REMOTE_MAC, 0x0800) + pkt

    def outer(gre_bytes, pa_src=PA_REMOTE, pa_dst=PA_LOCAL, proto=47, flags="DF", frag=0):
        return ether(PNIC_MAC, HV2_MAC, 0x0800) + bytes(
            IP(src=pa_src, dst=pa_dst, tos=0, id=0x77, flags=flags, frag=frag, ttl=64,
               proto=proto) / Raw(gre_bytes))

    key = struct.pack("!I", RED_VSID << 8 | 0x21)
    cases = [
        ("GRE checksum bit (0xA000 0x6558 + checksum + key)", "bad_gre_header",
         outer(struct.pack("!HHHH", 0xA000, 0x6558, 0, 0) + key + inner)),
        ("GRE sequence bit (0x3000 0x6558 key seq)", "bad_gre_header",
         outer(struct.pack("!HH", 0x3000, 0x6558) + key + struct.pack("!I", 1) + inner)),
        ("GRE version 1 (0x2001)", "bad_gre_header",
         outer(struct.pack("!HH", 0x2001, 0x6558) + key + inner)),
        ("GRE key bit missing (0x0000 0x6558)", "bad_gre_header",
         outer(struct.pack("!HH", 0x0000, 0x6558) + inner)),
        ("GRE protocol 0x0800", "not_nvgre",
         outer(struct.pack("!HH", 0x2000, 0x0800) + key + pkt)),
        ("VSID 100", "reserved_vsid", outer(gre(100, 0x21) + inner)),
        ("VSID 0xFFFFFF", "reserved_vsid", outer(gre(0xFFFFFF, 0x21) + inner)),
        ("VSID 4095", "reserved_vsid", outer(gre(4095, 0x21) + inner)),
        ("VSID 7777 (no port in it)", "unknown_vsid", outer(gre(7777, 0x21) + inner)),
        ("outer IPv4 MF set", "outer_fragment", outer(gre(RED_VSID, 0x21) + inner, flags="MF")),
        ("outer IPv4 fragment offset 185", "outer_fragment",
         outer(gre(RED_VSID, 0x21) + inner, flags=0, frag=185)),
        ("inner 802.1Q tag", "inner_vlan_tagged",
         outer(gre(RED_VSID, 0x21) + ether(RED1_MAC, RED_REMOTE_MAC, 0x0800, vlan=5) + pkt)),
        ("GRE cut after 6 bytes (frame padded to 60)", "truncated",
         pad60(outer(gre(RED_VSID, 0x21)[:6]))),
        ("GRE of 3 bytes", "truncated", pad60(outer(gre(RED_VSID, 0x21)[:3]))),
        ("outer destination 192.168.1.77", "not_local_pa",
         outer(gre(RED_VSID, 0x21) + inner, pa_dst="192.168.1.77")),
        ("UDP to the PA", "not_nvgre",
         ether(PNIC_MAC, HV2_MAC, 0x0800) + ip4(PA_REMOTE, PA_LOCAL, udp(4789, 4789, 30, 2))),
        ("inner ARP", "unsupported_ethertype",
         outer(gre(RED_VSID, 0x21) + ether(RED1_MAC, RED_REMOTE_MAC, 0x0806)
               + arp(1, RED_REMOTE_MAC, REMOTE_CA, "00-00-00-00-00-00", RED1_CA))),
        ("inner frame of 10 bytes", "truncated", outer(gre(RED_VSID, 0x21) + inner[:10])),
        ("inner destination 10.1.1.200 (no record)", "no_lookup_record",
         outer(gre(RED_VSID, 0x21) + ether(RED1_MAC, RED_REMOTE_MAC, 0x0800)
               + ip4(REMOTE_CA, "10.1.1.200", udp(33053, 40000, 20, 1)))),
        ("inner destination 10.1.1.8 (record PA is remote)", "no_local_port",
         outer(gre(RED_VSID, 0x21) + ether(RED_REMOTE_MAC, RED1_MAC, 0x0800)
               + ip4(REMOTE_CA, REMOTE_CA, udp(33053, 40000, 20, 1)))),
        ("inner broadcast 255.255.255.255", "flooding_disabled",
         outer(gre(RED_VSID, 0x21) + ether("FF-FF-FF-FF-FF-FF", RED_REMOTE_MAC, 0x0800)
               + ip4(REMOTE_CA, "255.255.255.255", udp(68, 67, 20, 1)))),
    ]
    for note, reason, frame in cases:
        if reason in ("no_lookup_record", "no_local_port"):
            # Section 8: the sender (10.1.1.8 via its own PA) is told it has no policy here.
            sc.send("pnic0", frame, [("pnic0", nve_message("unreachable", frame, RED_VSID))], drop=reason,
                    note=note + "; UNREACHABLE to 192.168.1.11", counts=("unreachables_sent",))
        else:
            sc.send("pnic0", frame, drop=reason, note=note)
    sc.send("pnic0", outer(gre(RED_VSID, 0x21) + inner), [("red1", inner)],
            note="control: well-formed NVGRE")
    return sc


def icmp_frag_needed(vm_mac, sent_ip, mtu_value, gw_ip, vm_ip):
    """Section 3: ICMP type 3 code 4 from the gateway, quote cut to a 576-byte IP packet."""
    quote = sent_ip[:576 - 20 - 8]
    body = struct.pack("!BBHHH", 3, 4, 0, 0, mtu_value) + quote
    body = body[:2] + struct.pack("!H", inet_checksum(body)) + body[4:]
    packet = bytes(IP(src=gw_ip, dst=vm_ip, tos=0, id=0, flags=0, ttl=64, proto=1) / Raw(body))
    assert len(packet) <= 576
    return ether(vm_mac, GW_MAC, 0x0800) + packet


def icmp_time_exceeded(vm_mac, sent_ip, gw_ip, vm_ip):
    """Section 4 routing: ICMP type 11 code 0 from the sender's gateway, quote cut to 576 bytes."""
    quote = sent_ip[:576 - 20 - 8]
    body = struct.pack("!BBHI", 11, 0, 0, 0) + quote
    body = body[:2] + struct.pack("!H", inet_checksum(body)) + body[4:]
    packet = bytes(IP(src=gw_ip, dst=vm_ip, tos=0, id=0, flags=0, ttl=64, proto=1) / Raw(body))
    return ether(vm_mac, GW_MAC, 0x0800) + packet


def icmp6_too_big(vm_mac, sent_ip, mtu_value, gw_ip, vm_ip):
    """Section 3: ICMPv6 packet too big from the IPv6 gateway, IPv6 packet <= 1280 bytes."""
    quote = sent_ip[:1280 - 40 - 8]
    packet = ip6(gw_ip, vm_ip, ICMPv6PacketTooBig(mtu=mtu_value) / Raw(quote), tc=0, fl=0, hlim=64)
    assert len(packet) <= 1280
    return ether(vm_mac, GW_MAC, 0x86DD) + packet


def fragments4(packet, mtu, overhead):
    """Section 3: IPv4 fragmentation before encapsulation (no options here)."""
    ihl = (packet[0] & 0x0F) * 4
    assert ihl == 20
    per = (mtu - overhead - ihl) // 8 * 8
    hdr = IP(packet)
    data = packet[ihl:]
    frags = []
    for off in range(0, len(data), per):
        chunk = data[off:off + per]
        last = off + per >= len(data)
        frags.append(bytes(IP(src=hdr.src, dst=hdr.dst, tos=hdr.tos, id=hdr.id, ttl=hdr.ttl,
                              proto=hdr.proto, flags=0 if last else "MF", frag=off // 8)
                           / Raw(chunk)))
    return frags


def s_mtu():
    cfg = make_config([provider_port(mtu=1000), RED1_PORT],
                      RED_RECORDS + [record(RED6_LOCAL, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
                                     record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2")],
                      RED_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")])
    sc = Scenario("mtu",
                  "pnic0 mtu 1000 (IPv4 PA, overhead 42): the boundary, ICMP fragmentation needed "
                  "for DF packets, fragmentation of non-DF packets before encapsulation, ICMPv6 "
                  "packet too big for IPv6 CAs.", cfg)
    mtu, overhead = 1000, 42
    # exactly at the limit: 20 + 8 + 14 + 958 = 1000 -> forwarded.
    fits = ip4(RED1_CA, REMOTE_CA, udp(40000, 9, 958 - 28, 1), ident=0xB001)
    frame = red1_frame(RED_REMOTE_MAC, fits)
    out = encap_expected4(frame, fits, RED_VSID)
    assert len(out) == 14 + 1000
    sc.send("red1", frame, [("pnic0", out)], note="958-byte IP packet with DF: outer IP exactly 1000")
    # one byte more, DF -> mtu_exceeded + ICMP fragmentation needed, MTU 958.
    over = ip4(RED1_CA, REMOTE_CA, udp(40000, 9, 959 - 28, 2), ident=0xB002)
    sc.send("red1", red1_frame(RED_REMOTE_MAC, over),
            [("red1", icmp_frag_needed(RED1_MAC, over, mtu - overhead, RED_GW, RED1_CA))],
            drop="mtu_exceeded", note="959-byte IP packet with DF -> ICMP 3/4 MTU 958")
    # the brief's case: 1200 bytes, DF.
    big = ip4(RED1_CA, REMOTE_CA, udp(40001, 9, 1200 - 28, 3), ident=0xB003, tos=0x20)
    icmp = icmp_frag_needed(RED1_MAC, big, mtu - overhead, RED_GW, RED1_CA)
    assert len(icmp) == 14 + 576
    sc.send("red1", red1_frame(RED_REMOTE_MAC, big), [("red1", icmp)],
            drop="mtu_exceeded", note="1200-byte UDP with DF -> ICMP 3/4 MTU 958, quote cut to 576")
    # 1200 bytes without DF -> fragments of 936 + 244 payload bytes, each encapsulated.
    nodf = ip4(RED1_CA, REMOTE_CA, udp(40002, 9, 1200 - 28, 4), ident=0xB004, tos=0xB8, df=False)
    frags = fragments4(nodf, mtu, overhead)
    assert [len(f) - 20 for f in frags] == [936, 244]
    outs = []
    for f in frags:
        fframe = red1_frame(RED_REMOTE_MAC, f)
        outs.append(("pnic0", encap_expected4(fframe, f, RED_VSID)))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, nodf), outs,
            note="1200-byte UDP without DF -> 2 fragments (936 + 244), each encapsulated")
    # 2100 bytes without DF -> three fragments (936 + 936 + 208).
    nodf3 = ip4(RED1_CA, REMOTE_CA, icmp_echo(0x123, 9, 2100 - 28), ident=0xB005, df=False)
    frags = fragments4(nodf3, mtu, overhead)
    assert [len(f) - 20 for f in frags] == [936, 936, 208]
    outs = [("pnic0", encap_expected4(red1_frame(RED_REMOTE_MAC, f), f, RED_VSID)) for f in frags]
    sc.send("red1", red1_frame(RED_REMOTE_MAC, nodf3), outs,
            note="2100-byte ICMP echo without DF -> 3 fragments (936 + 936 + 208)")
    # IPv6 CA, 1200-byte packet -> ICMPv6 packet too big (whole packet fits the quote). The path
    # carries 958, but an IPv6 MTU is never reported below 1280 (RFC 8200 5; RFC 8201 4: a host
    # ignores a smaller one).
    v6_mtu = max(mtu - overhead, 1280)
    v6 = ip6(RED6_LOCAL, RED6_REMOTE, udp(40003, 9, 1200 - 48, 5))
    assert len(v6) == 1200
    ptb = icmp6_too_big(RED1_MAC, v6, v6_mtu, RED6_GW, RED6_LOCAL)
    assert len(ptb) == 14 + 1248
    sc.send("red1", red1_frame(RED_REMOTE_MAC, v6, 0x86DD), [("red1", ptb)],
            drop="mtu_exceeded", note="1200-byte IPv6 packet -> ICMPv6 packet too big, MTU 1280 (IPv6's minimum; the path carries 958)")
    # IPv6 CA, 1400-byte packet -> the quote is cut to keep the IPv6 packet at 1280 bytes.
    v6b = ip6(RED6_LOCAL, RED6_REMOTE, udp(40004, 9, 1400 - 48, 6))
    ptb = icmp6_too_big(RED1_MAC, v6b, v6_mtu, RED6_GW, RED6_LOCAL)
    assert len(ptb) == 14 + 1280
    sc.send("red1", red1_frame(RED_REMOTE_MAC, v6b, 0x86DD), [("red1", ptb)],
            drop="mtu_exceeded", note="1400-byte IPv6 packet -> packet too big, cut to 1280")
    # IPv6 at the limit: 20 + 8 + 14 + 958 = 1000 -> forwarded.
    v6fit = ip6(RED6_LOCAL, RED6_REMOTE, udp(40005, 9, 958 - 48, 7))
    frame = red1_frame(RED_REMOTE_MAC, v6fit, 0x86DD)
    sc.send("red1", frame, [("pnic0", encap_expected4(frame, v6fit, RED_VSID))],
            note="958-byte IPv6 packet: outer IP exactly 1000")
    return sc


def s_arp_and_pa():
    sc = Scenario("arp-and-pa",
                  "ARP answered locally on red1 (record, gateway), unanswered for unknown or own "
                  "addresses; ping to the gateway; on pnic0 ARP and ping for the local PA, foreign "
                  "PA / foreign MAC refused.", red_blue_config())
    ZERO = "00-00-00-00-00-00"
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, REMOTE_CA),
            [("red1", arp_reply_frame(RED1_MAC, RED1_CA, RED_REMOTE_MAC, REMOTE_CA))],
            note="who-has 10.1.1.8 -> 00-15-5D-00-00-02")
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, RED_GW),
            [("red1", arp_reply_frame(RED1_MAC, RED1_CA, GW_MAC, RED_GW))],
            note="who-has gateway 10.1.1.1 -> 00-15-5D-FF-FF-FF")
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, "10.1.1.50"), drop="arp_unresolved",
            note="who-has 10.1.1.50 (no record)")
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, RED1_CA), drop="arp_unresolved",
            note="who-has its own 10.1.1.7")
    sc.send("red1", arp_request_frame(RED1_MAC, "0.0.0.0", REMOTE_CA),
            [("red1", arp_reply_frame(RED1_MAC, "0.0.0.0", RED_REMOTE_MAC, REMOTE_CA))],
            note="ARP probe (sender 0.0.0.0) for 10.1.1.8 -> answered, tpa 0.0.0.0")
    sc.send("blue1", arp_request_frame(BLUE1_MAC, RED1_CA, REMOTE_CA),
            [("blue1", arp_reply_frame(BLUE1_MAC, RED1_CA, BLUE_REMOTE_MAC, REMOTE_CA))],
            note="blue1 who-has 10.1.1.8 -> Blue's 00-15-5D-00-01-02")
    # 1.9: ping the gateway.
    req = ip4(RED1_CA, RED_GW, icmp_echo(0x1, 1, 32), ttl=128, ident=0xC001, tos=0x10)
    rep = ip4(RED_GW, RED1_CA, icmp_echo(0x1, 1, 32, reply=True), ttl=64, ident=0xC001, tos=0x10)
    sc.send("red1", red1_frame(GW_MAC, req), [("red1", ether(RED1_MAC, GW_MAC, 0x0800) + rep)],
            note="ping gateway 10.1.1.1 -> echo reply, TTL 64")
    sc.send("red1", red1_frame(GW_MAC, ip4(RED1_CA, RED_GW, udp(40000, 33053, 20, 1), ident=0xC002)),
            drop="no_lookup_record", note="UDP to the gateway address")
    # 2.2 / 2.3 on the provider port.
    sc.send("pnic0", arp_request_frame(HV2_MAC, PA_REMOTE, PA_LOCAL),
            [("pnic0", arp_reply_frame(HV2_MAC, PA_REMOTE, PNIC_MAC, PA_LOCAL))],
            note="who-has PA 192.168.1.10 -> pnic0 MAC")
    sc.send("pnic0", arp_request_frame(HV2_MAC, PA_REMOTE, "192.168.1.99"), drop="not_local_pa",
            note="who-has 192.168.1.99")
    req = ip4(PA_REMOTE, PA_LOCAL, icmp_echo(0x2, 7, 48), ttl=128, ident=0xC101)
    rep = ip4(PA_LOCAL, PA_REMOTE, icmp_echo(0x2, 7, 48, reply=True), ttl=OUTER_TTL, ident=0xC101)
    sc.send("pnic0", ether(PNIC_MAC, HV2_MAC, 0x0800) + req,
            [("pnic0", ether(HV2_MAC, PNIC_MAC, 0x0800) + rep)],
            note="ping PA 192.168.1.10 -> reply, TTL 64")
    sc.send("pnic0", ether("02-00-00-00-01-99", HV2_MAC, 0x0800) + req, drop="not_for_host",
            note="same ping to a foreign unicast MAC")
    return sc


def s_routing():
    red2_mac = "00-15-5D-00-02-07"
    cfg = make_config([provider_port(), RED1_PORT, vm_port("red2", red2_mac, RED2_VSID, "Red-2b")],
                      RED_RECORDS + [record("10.1.2.5", RED2_VSID, "00-15-5D-00-02-05", PA_REMOTE,
                                            vm_name="Red-5"),
                                     record("10.1.2.7", RED2_VSID, red2_mac, PA_LOCAL, vm_name="Red-2b")],
                      RED_ROUTES + [route(RED_RD, RED2_VSID, "10.1.2.0/24")])
    sc = Scenario("routing",
                  "Red routing domain with VSIDs 5001 (10.1.1.0/24) and 5002 (10.1.2.0/24): "
                  "frames to the gateway MAC are routed (TTL decremented, MACs rewritten, VSID of "
                  "the destination record), locally or over NVGRE; TTL 1, no route, no record.",
                  cfg)
    pkt = ip4(RED1_CA, "10.1.2.5", udp(40000, 33053, 40, 1), ident=0xD001, ttl=64, tos=0xB8)
    routed = ip4(RED1_CA, "10.1.2.5", udp(40000, 33053, 40, 1), ident=0xD001, ttl=63, tos=0xB8)
    inner = ether("00-15-5D-00-02-05", GW_MAC, 0x0800) + routed
    sc.send("red1", red1_frame(GW_MAC, pkt), [("pnic0", encap_expected4(inner, routed, RED2_VSID))],
            note="10.1.1.7 -> 10.1.2.5 via gateway MAC: NVGRE VSID 5002, TTL 63")
    pkt = ip4(RED1_CA, "10.1.2.7", tcp(40001, 80, "S", seq=1), ident=0xD002, ttl=128)
    routed = ip4(RED1_CA, "10.1.2.7", tcp(40001, 80, "S", seq=1), ident=0xD002, ttl=127)
    sc.send("red1", red1_frame(GW_MAC, pkt),
            [("red2", ether(red2_mac, GW_MAC, 0x0800) + routed)],
            note="10.1.1.7 -> 10.1.2.7 (local, VSID 5002) via gateway MAC: to red2, TTL 127")
    expiring = ip4(RED1_CA, "10.1.2.5", udp(40000, 33053, 40, 1), ttl=1)
    sc.send("red1", red1_frame(GW_MAC, expiring),
            [("red1", icmp_time_exceeded(RED1_MAC, expiring, RED_GW, RED1_CA))],
            drop="ttl_expired", note="TTL 1: dropped, ICMP time exceeded from gateway 10.1.1.1 (the traceroute hop)")
    unreachable = ip4(RED1_CA, "10.1.2.5", ICMP(type=3, code=3) / Raw(bytes(20 + 8)), ttl=1)
    sc.send("red1", red1_frame(GW_MAC, unreachable), drop="ttl_expired",
            note="TTL 1 on an ICMP error: dropped with no ICMP error about it (RFC 1812 4.3.2.7)")
    sc.send("red1", red1_frame(GW_MAC, ip4(RED1_CA, "172.16.0.1", udp(40000, 33053, 40, 1))),
            drop="no_route", note="172.16.0.1: no customer route")
    sc.send("red1", red1_frame(GW_MAC, ip4(RED1_CA, "10.1.2.99", udp(40000, 33053, 40, 1))),
            drop="no_lookup_record", note="10.1.2.99: route but no record")
    sc.send("red1", red1_frame("00-15-5D-00-02-05", ip4(RED1_CA, "10.1.2.5", udp(40000, 33053, 40, 1))),
            drop="no_lookup_record",
            note="10.1.2.5 sent to its MAC, not the gateway MAC: not routed, same routing domain")
    back_pkt = ip4("10.1.2.7", RED1_CA, icmp_echo(0x5, 1, 16), ident=0xD003, ttl=64)
    back_routed = ip4("10.1.2.7", RED1_CA, icmp_echo(0x5, 1, 16), ident=0xD003, ttl=63)
    sc.send("red2", ether(GW_MAC, red2_mac, 0x0800) + back_pkt,
            [("red1", ether(RED1_MAC, GW_MAC, 0x0800) + back_routed)],
            note="red2 10.1.2.7 -> 10.1.1.7 via gateway MAC: to red1, TTL 63")
    return sc


def s_vm_malformed():
    sc = Scenario("vm-malformed",
                  "Header checks on a vm port (section 1.1-1.7): truncated and malformed frames, "
                  "bad ARP, unsupported EtherType, broadcast/multicast.", red_blue_config())
    good = ip4(RED1_CA, REMOTE_CA, udp(40000, 33053, 20, 1), ident=0xE001)
    sc.send("red1", red1_frame(RED_REMOTE_MAC, good)[:10], drop="truncated",
            note="10-byte frame")
    sc.send("red1", red1_frame(RED_REMOTE_MAC, good)[:14 + 12], drop="truncated",
            note="IPv4 with 12 bytes after Ethernet")
    bad = bytearray(good)
    bad[10:12] = struct.pack("!H", (struct.unpack("!H", bad[10:12])[0] ^ 0x0101))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, bytes(bad)), drop="malformed_header",
            note="IPv4 bad header checksum")
    v6hdr = bytearray(good)
    v6hdr[0] = 0x65  # version 6 in an IPv4 frame (checksum fixed below)
    v6hdr[10:12] = b"\x00\x00"
    v6hdr[10:12] = struct.pack("!H", inet_checksum(bytes(v6hdr[:20])))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, bytes(v6hdr)), drop="malformed_header",
            note="EtherType 0x0800 but IP version 6")
    longer = bytes(IP(src=RED1_CA, dst=REMOTE_CA, len=200, id=0xE002, flags="DF") / udp(40000, 33053, 20, 1))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, longer), drop="truncated",
            note="IPv4 total length 200 in a 62-byte frame")
    sc.send("red1", ether("FF-FF-FF-FF-FF-FF", RED1_MAC, 0x0806)
            + arp(1, RED1_MAC, RED1_CA, "00-00-00-00-00-00", REMOTE_CA)[:20],
            drop="truncated", note="ARP with 20 bytes (34-byte frame)")
    sc.send("red1", pad60(ether(RED_REMOTE_MAC, RED1_MAC, 0x0806)
                          + arp(2, RED1_MAC, RED1_CA, RED_REMOTE_MAC, REMOTE_CA)),
            drop="arp_unresolved", note="ARP reply (op 2) from the VM")
    sc.send("red1", pad60(ether("FF-FF-FF-FF-FF-FF", RED1_MAC, 0x0806)
                          + arp(1, "00-15-5D-00-00-66", RED1_CA, "00-00-00-00-00-00", REMOTE_CA)),
            drop="spoofed_source", note="ARP sender hardware address not red1's")
    sc.send("red1", pad60(ether("FF-FF-FF-FF-FF-FF", RED1_MAC, 0x0806)
                          + arp(1, RED1_MAC, REMOTE_CA, "00-00-00-00-00-00", RED_GW)),
            drop="spoofed_source", note="ARP sender IP 10.1.1.8 (another VM's)")
    v6 = bytearray(ip6(RED6_LOCAL, RED6_REMOTE, udp(40000, 33053, 20, 1)))
    v6[4:6] = struct.pack("!H", 500)
    sc.send("red1", red1_frame(RED_REMOTE_MAC, bytes(v6), 0x86DD), drop="truncated",
            note="IPv6 payload length 500 in a short frame")
    sc.send("red1", pad60(ether("01-80-C2-00-00-0E", RED1_MAC, 0x88CC) + b"\x02\x07\x04" + b"\x00" * 6),
            drop="unsupported_ethertype", note="LLDP (0x88CC)")
    sc.send("red1", ether("FF-FF-FF-FF-FF-FF", RED1_MAC, 0x0800)
            + ip4(RED1_CA, "255.255.255.255", udp(40000, 9, 40, 1), df=False),
            drop="flooding_disabled", note="UDP to 255.255.255.255 (not DHCP: see the dhcp scenario)")
    sc.send("red1", ether("01-00-5E-00-00-FB", RED1_MAC, 0x0800)
            + ip4(RED1_CA, "224.0.0.251", udp(5353, 5353, 40, 1), df=False),
            drop="flooding_disabled", note="mDNS to 224.0.0.251")
    sc.send("red1", ether(RED_REMOTE_MAC, RED1_MAC, 0x0800)
            + ip4(RED1_CA, "224.0.0.251", udp(5353, 5353, 40, 1), df=False),
            drop="flooding_disabled", note="multicast IP in a unicast frame")
    return sc


def s_gateway():
    """HNV's gateway pattern (GatewayWildcard records, a default route to the gateway CA)."""
    red_gw_mac, blue_gw_mac = "00-15-5D-00-02-FE", "00-15-5D-00-03-FE"
    wildcard = lambda vsid, mac_address, pa_address: dict(  # noqa: E731
        record("0.0.0.0", vsid, mac_address, pa_address), type="GatewayWildcard")
    blue_gw_vsid = 6002
    cfg = make_config(
        [provider_port(), RED1_PORT, vm_port("bgw", blue_gw_mac, blue_gw_vsid, "Blue-GW")],
        [record(RED1_CA, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
         record("10.1.2.254", RED2_VSID, red_gw_mac, PA_REMOTE, vm_name="Red-GW"),
         wildcard(RED2_VSID, red_gw_mac, PA_REMOTE),
         record("10.2.1.8", BLUE_VSID, BLUE_REMOTE_MAC, PA_REMOTE, vm_name="Blue-2"),
         record("10.2.2.254", blue_gw_vsid, blue_gw_mac, PA_LOCAL, vm_name="Blue-GW"),
         wildcard(blue_gw_vsid, blue_gw_mac, PA_LOCAL)],
        RED_ROUTES + [route(RED_RD, RED2_VSID, "10.1.2.0/24"),
                      route(RED_RD, RED2_VSID, "0.0.0.0/0", "10.1.2.254")]
        + [route(BLUE_RD, BLUE_VSID, "10.2.1.0/24"), route(BLUE_RD, blue_gw_vsid, "10.2.2.0/24"),
           route(BLUE_RD, blue_gw_vsid, "0.0.0.0/0", "10.2.2.254")])
    sc = Scenario("gateway",
                  "Gateway VMs with GatewayWildcard records: Red's gateway (10.1.2.254, VSID 5002) "
                  "on the remote host, Blue's (10.2.2.254, VSID 6002) on this one. Outside "
                  "addresses go by the default route to the gateway CA; NVGRE for any CA of the "
                  "gateway's VSID reaches the local gateway VM; the gateway VM may send from "
                  "outside addresses, no other VM may; outside sources are accepted from the "
                  "gateway's PA only.", cfg)
    pkt = ip4(RED1_CA, "8.8.8.8", udp(40000, 33053, 24, 1), ident=0xE001, ttl=64)
    routed = ip4(RED1_CA, "8.8.8.8", udp(40000, 33053, 24, 1), ident=0xE001, ttl=63)
    inner = ether(red_gw_mac, GW_MAC, 0x0800) + routed
    sc.send("red1", red1_frame(GW_MAC, pkt), [("pnic0", encap_expected4(inner, routed, RED2_VSID))],
            note="10.1.1.7 -> 8.8.8.8: default route to gateway 10.1.2.254, NVGRE VSID 5002 to its PA")
    back = ip4("8.8.8.8", RED1_CA, udp(33053, 40000, 24, 2), ident=0xE002, ttl=63)
    back_inner = ether(RED1_MAC, GW_MAC, 0x0800) + back
    sc.send("pnic0", decap_input4(RED_VSID, back_inner, back, flow=0x21), [("red1", back_inner)],
            note="8.8.8.8 -> 10.1.1.7 from the gateway's PA: the wildcard record vouches for it")
    sc.send("pnic0", decap_input4(RED_VSID, back_inner, back, pa_src="192.168.1.12", flow=0x21),
            drop="pa_mismatch", note="the same from a PA that is not the gateway's")
    to_out = ip4("10.2.1.8", "1.1.1.1", tcp(40002, 443, "S", seq=7), ident=0xE003, ttl=63)
    to_out_inner = ether(blue_gw_mac, GW_MAC, 0x0800) + to_out
    sc.send("pnic0", decap_input4(blue_gw_vsid, to_out_inner, to_out, flow=0x22), [("bgw", to_out_inner)],
            note="NVGRE VSID 6002 for 1.1.1.1 (no record): delivered to the local Blue gateway VM")
    reply = ip4("1.1.1.1", "10.2.1.8", tcp(443, 40002, "SA", seq=9, ack=8), ident=0xE004, ttl=64)
    reply_routed = ip4("1.1.1.1", "10.2.1.8", tcp(443, 40002, "SA", seq=9, ack=8), ident=0xE004, ttl=63)
    reply_inner = ether(BLUE_REMOTE_MAC, GW_MAC, 0x0800) + reply_routed
    sc.send("bgw", ether(GW_MAC, blue_gw_mac, 0x0800) + reply,
            [("pnic0", encap_expected4(reply_inner, reply_routed, BLUE_VSID))],
            note="the Blue gateway VM sends from 1.1.1.1 to 10.2.1.8: routed, NVGRE VSID 6001")
    sc.send("red1", red1_frame(GW_MAC, ip4("8.8.8.8", "10.1.2.254", udp(40000, 33053, 24, 3))),
            drop="spoofed_source", note="red1 (not a gateway) sending from 8.8.8.8")
    # 1.8: the wildcard stands for addresses outside the virtual network only.
    sc.send("bgw", ether(GW_MAC, blue_gw_mac, 0x0800) + ip4("10.2.1.8", "10.2.1.9", udp(40000, 53, 8, 4)),
            drop="spoofed_source", note="the Blue gateway VM from 10.2.1.8 (Blue-2's record in VSID 6001)")
    sc.send("bgw", ether(GW_MAC, blue_gw_mac, 0x0800) + ip4("10.2.1.1", "10.2.1.8", udp(67, 68, 240, 5)),
            drop="spoofed_source", note="the Blue gateway VM from 10.2.1.1 (VSID 6001's gateway address)")
    forged = ip4(RED_GW, RED1_CA, udp(67, 68, 240, 6), ident=0xE005, ttl=63)
    forged_inner = ether(RED1_MAC, GW_MAC, 0x0800) + forged
    sc.send("pnic0", decap_input4(RED_VSID, forged_inner, forged, flow=0x23), drop="pa_mismatch",
            note="NVGRE from the Red gateway's PA, inner source 10.1.1.1 (a gateway address): not the wildcard's")
    return sc


def s_acl():
    cfg = make_config([provider_port(), RED1_PORT, RED3_PORT, BLUE1_PORT],
                      RED_RECORDS + [record("10.1.1.9", RED_VSID, RED3_MAC, PA_LOCAL, vm_name="Red-3"),
                                     record(RED6_LOCAL, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
                                     record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2")]
                      + BLUE_RECORDS,
                      RED_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")] + BLUE_ROUTES)
    cfg["acls"] = [
        {"virtualSubnetId": RED_VSID, "priority": 10, "direction": "outbound", "protocol": "tcp",
         "sourcePorts": "1024-65535", "destinationPrefix": "10.1.1.9/32", "destinationPorts": 22,
         "action": "allow", "name": "admin-ssh-to-red3"},
        {"virtualSubnetId": RED_VSID, "priority": 100, "direction": "outbound", "protocol": "tcp",
         "destinationPorts": "22", "action": "deny", "name": "no-ssh-out"},
        {"virtualSubnetId": RED_VSID, "priority": 100, "direction": "inbound", "protocol": "udp",
         "destinationPorts": "53", "action": "deny", "name": "no-dns-in"},
        {"virtualSubnetId": RED_VSID, "priority": 200, "direction": "both", "protocol": "tcp",
         "destinationPrefix": "2001:db8:1::/64", "destinationPorts": "23", "action": "deny",
         "name": "no-v6-telnet"},
        {"virtualSubnetId": BLUE_VSID, "priority": 5, "direction": "both", "protocol": "icmp",
         "action": "deny", "name": "blue-no-icmp"},
        {"virtualSubnetId": RED_VSID, "priority": 300, "direction": "inbound", "protocol": "udp",
         "destinationPrefix": "10.1.1.9/32", "action": "deny"},
    ]
    sc = Scenario("acl",
                  "Per-tenant ACLs (section 4): Red may not send TCP 22 except from a high port to "
                  "red3, may not receive DNS, no telnet to its IPv6 subnet, red3 takes no UDP; Blue "
                  "(same CAs) has only its own rule, no ICMP. Outbound rules judged where the VM's "
                  "frame is resolved, inbound ones before same-host delivery and NVGRE decap; ARP "
                  "answered whatever the rules; a later fragment shows no ports.", cfg)
    red3_ca = "10.1.1.9"

    def out4(packet, note, acl=()):
        frame = red1_frame(RED_REMOTE_MAC, packet)
        sc.send("red1", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID))], note=note, acl=acl)

    def decap(vsid, port, dst_mac, src_mac, packet, note, drop=None, acl=()):
        inner = ether(dst_mac, src_mac, 0x0800) + packet
        sc.send("pnic0", decap_input4(vsid, inner, packet, flow=0x42), [] if drop else [(port, inner)],
                drop=drop, note=note, acl=acl)

    # Outbound, red1 -> the remote Red VM.
    sc.send("red1", red1_frame(RED_REMOTE_MAC, ip4(RED1_CA, REMOTE_CA, tcp(40000, 22, "S"), ident=0xF001)),
            drop="acl_deny", acl=["no-ssh-out"], note="TCP SYN to 10.1.1.8:22: no-ssh-out")
    out4(ip4(RED1_CA, REMOTE_CA, icmp_echo(0xAC1, 1, 32), ident=0xF002), "ping 10.1.1.8: no rule, allowed")
    out4(ip4(RED1_CA, REMOTE_CA, tcp(40000, 8022, "S"), ident=0xF003), "TCP SYN to 10.1.1.8:8022: allowed")
    out4(ip4(RED1_CA, REMOTE_CA, tcp(22, 40000, "SA"), ident=0xF004),
         "TCP from source port 22 (an answer): allowed, the rule is on destination ports")
    # Same host, red1 -> red3: the sender's outbound rules, then red3's inbound rules.
    ssh3 = ip4(RED1_CA, red3_ca, tcp(40001, 22, "S"), ident=0xF005)
    sc.send("red1", red1_frame(RED3_MAC, ssh3), [("red3", red1_frame(RED3_MAC, ssh3))],
            acl=["admin-ssh-to-red3"], note="TCP 40001 -> red3:22: admin-ssh-to-red3 allows (priority 10 first)")
    sc.send("red1", red1_frame(RED3_MAC, ip4(RED1_CA, red3_ca, tcp(1000, 22, "S"), ident=0xF006)),
            drop="acl_deny", acl=["no-ssh-out"], note="TCP 1000 -> red3:22: source port below 1024, no-ssh-out")
    sc.send("red1", red1_frame(RED3_MAC, ip4(RED1_CA, red3_ca, udp(40002, 9, 8, 1), ident=0xF007)),
            drop="acl_deny", acl=["5001/300"], note="UDP -> red3: red3's inbound 5001/300 (unnamed)")
    # Inbound at NVGRE decap.
    decap(RED_VSID, "red1", RED1_MAC, RED_REMOTE_MAC, ip4(REMOTE_CA, RED1_CA, udp(33053, 53, 20, 2), ident=0xF101),
          "NVGRE 5001 UDP to 10.1.1.7:53: no-dns-in", drop="acl_deny", acl=["no-dns-in"])
    decap(RED_VSID, "red1", RED1_MAC, RED_REMOTE_MAC, ip4(REMOTE_CA, RED1_CA, udp(33053, 40000, 20, 3), ident=0xF102),
          "NVGRE 5001 UDP to 10.1.1.7:40000: delivered")
    decap(RED_VSID, "red1", RED1_MAC, RED_REMOTE_MAC, ip4(REMOTE_CA, RED1_CA, tcp(40000, 22, "S"), ident=0xF103),
          "NVGRE 5001 TCP to 10.1.1.7:22: delivered, no-ssh-out is outbound only")
    # IPv6 CAs: a rule without prefixes serves both families, an IPv6 prefix only IPv6.
    v6telnet = ip6(RED6_LOCAL, RED6_REMOTE, tcp(40003, 23, "S"))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, v6telnet, 0x86DD), drop="acl_deny", acl=["no-v6-telnet"],
            note="IPv6 TCP to ::8:23: no-v6-telnet")
    v6ssh = ip6(RED6_LOCAL, RED6_REMOTE, tcp(40004, 22, "S"))
    sc.send("red1", red1_frame(RED_REMOTE_MAC, v6ssh, 0x86DD), drop="acl_deny", acl=["no-ssh-out"],
            note="IPv6 TCP to ::8:22: no-ssh-out (no prefix: both families)")
    out4(ip4(RED1_CA, REMOTE_CA, tcp(40005, 23, "S"), ident=0xF008),
         "IPv4 TCP to 10.1.1.8:23: allowed, no-v6-telnet is IPv6 only")
    # Blue has the same CAs and only its own rule.
    blue_ping = ip4(RED1_CA, REMOTE_CA, icmp_echo(0xB1, 1, 16), ident=0xF201)
    sc.send("blue1", ether(BLUE_REMOTE_MAC, BLUE1_MAC, 0x0800) + blue_ping, drop="acl_deny", acl=["blue-no-icmp"],
            note="Blue ping 10.1.1.8: blue-no-icmp")
    blue_ssh = ip4(RED1_CA, REMOTE_CA, tcp(40000, 22, "S"), ident=0xF202)
    blue_frame = ether(BLUE_REMOTE_MAC, BLUE1_MAC, 0x0800) + blue_ssh
    sc.send("blue1", blue_frame, [("pnic0", encap_expected4(blue_frame, blue_ssh, BLUE_VSID))],
            note="Blue TCP to 10.1.1.8:22: Red's no-ssh-out is not Blue's")
    # a real DNS query, so the decoders that read UDP 53 as DNS find one
    query = UDP(sport=33053, dport=53) / DNS(id=0x1234, rd=1, qd=DNSQR(qname="nvdp.example."))
    decap(BLUE_VSID, "blue1", BLUE1_MAC, BLUE_REMOTE_MAC, ip4(REMOTE_CA, RED1_CA, query, ident=0xF203),
          "NVGRE 6001 UDP to Blue 10.1.1.7:53: delivered, no-dns-in is Red's")
    # Answered locally: never judged.
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, REMOTE_CA),
            [("red1", arp_reply_frame(RED1_MAC, RED1_CA, RED_REMOTE_MAC, REMOTE_CA))],
            note="ARP who-has 10.1.1.8: answered")
    # Fragments: the first shows the ports, a later one does not.
    dns = ip4(REMOTE_CA, RED1_CA, udp(33054, 53, 40, 5), ident=0xF301, df=False)
    first, later = fragments4(dns, 20 + 24 + 42, 42)
    assert len(first) == 20 + 24 and len(later) == 20 + 24
    decap(RED_VSID, "red1", RED1_MAC, RED_REMOTE_MAC, first,
          "NVGRE 5001 first fragment of UDP to :53: no-dns-in", drop="acl_deny", acl=["no-dns-in"])
    decap(RED_VSID, "red1", RED1_MAC, RED_REMOTE_MAC, later,
          "NVGRE 5001 later fragment (no ports): no-dns-in needs ports, delivered")
    return sc


# --------------------------------------------------------------------------------------
# DHCP (section 5): client messages and the answers the rules give, built with scapy's
# BOOTP / DHCP layers
# --------------------------------------------------------------------------------------
DHCP_LEASE = 3600
RED_DNS, RED_DOMAIN = ["10.1.1.53", "10.1.1.54"], "red.example"
BLUE_DNS, BLUE_DOMAIN = ["10.1.1.153"], "blue.example"
PRL = [1, 3, 6, 15, 26, 51, 54, 58, 59]           # a typical parameter request list (55)


def chaddr16(mac_text):
    return mac(mac_text) + b"\x00" * 10


def dhcp_request_frame(src_mac, msg_type, xid, flags=0, ciaddr="0.0.0.0", src_ip="0.0.0.0",
                       dst_ip="255.255.255.255", eth_dst="FF-FF-FF-FF-FF-FF", chaddr=None,
                       extra=(), giaddr="0.0.0.0", op=1, ip_options=None, sport=68, dport=67,
                       options=None, cookie=b"c\x82Sc", cut=None):
    """A client message as a VM's DHCP client sends it (secs 2, client id, 55, host name)."""
    chaddr = chaddr or src_mac
    if options is None:
        options = ([("message-type", msg_type)] if msg_type else []) + list(extra) + [
            ("client_id", b"\x01" + mac(chaddr)), ("param_req_list", PRL), ("hostname", b"vm"), "end"]
    bootp = bytes(BOOTP(op=op, xid=xid, secs=2, flags=flags, ciaddr=ciaddr, giaddr=giaddr,
                        chaddr=chaddr16(chaddr), options=cookie) / DHCP(options=options))
    if cut is not None:
        bootp = bootp[:cut]
    ip = IP(src=src_ip, dst=dst_ip, ttl=64, id=0x6000 + (xid & 0xFFF))
    if ip_options:
        ip.options = ip_options
    return ether(eth_dst, src_mac, 0x0800) + bytes(ip / UDP(sport=sport, dport=dport) / Raw(bootp))


def dhcp_reply_frame(port_mac, xid, flags, msg_type, server, client_ca=None, ciaddr="0.0.0.0",
                     subnet_mask=None, dns=(), domain=None, mtu=1458, lease=DHCP_LEASE,
                     request_ciaddr="0.0.0.0"):
    """Section 4's answer: msg_type 2 OFFER, 5 ACK (client_ca None = INFORM's ACK), 6 NAK."""
    options = [("message-type", msg_type), ("server_id", server)]
    if msg_type != 6:
        if client_ca is not None:
            options.append(("lease_time", lease))
            if lease != 0xFFFFFFFF:
                options += [("renewal_time", lease // 2), ("rebinding_time", lease * 7 // 8)]
        options += [("subnet_mask", subnet_mask), ("router", server)]
        if dns:
            options.append(("name_server",) + tuple(dns))
        if domain:
            options.append(("domain", domain.encode()))
        options.append(("interface-mtu", mtu))
    options.append("end")
    yiaddr = client_ca if (msg_type != 6 and client_ca is not None) else "0.0.0.0"
    message = bytes(BOOTP(op=2, htype=1, hlen=6, hops=0, xid=xid, secs=0, flags=flags,
                          ciaddr=ciaddr, yiaddr=yiaddr, siaddr="0.0.0.0", giaddr="0.0.0.0",
                          chaddr=chaddr16(port_mac), options=b"c\x82Sc") / DHCP(options=options))
    message += b"\x00" * max(0, 300 - len(message))
    broadcast = msg_type == 6 or (request_ciaddr == "0.0.0.0" and flags & 0x8000)
    if broadcast:
        eth_dst, ip_dst = "FF-FF-FF-FF-FF-FF", "255.255.255.255"
    else:
        eth_dst = port_mac
        ip_dst = request_ciaddr if request_ciaddr != "0.0.0.0" else yiaddr
    packet = bytes(IP(src=server, dst=ip_dst, tos=0, ttl=64, id=0, flags=0)
                   / UDP(sport=67, dport=68) / Raw(message))
    return ether(eth_dst, GW_MAC, 0x0800) + packet


def s_dhcp():
    no_record_mac, off_link_mac = "00-15-5D-00-00-04", "00-15-5D-00-00-05"
    cfg = make_config([provider_port(), RED1_PORT, BLUE1_PORT,
                       vm_port("red4", no_record_mac, RED_VSID, "Red-4"),
                       vm_port("red5", off_link_mac, RED_VSID, "Red-5")],
                      RED_RECORDS + BLUE_RECORDS
                      + [record("10.9.9.5", RED_VSID, off_link_mac, PA_LOCAL, vm_name="Red-5")],
                      RED_ROUTES + BLUE_ROUTES)
    cfg["global"]["dhcpLeaseSeconds"] = DHCP_LEASE
    cfg["routingDomains"] = [
        {"routingDomainId": RED_RD, "dnsServers": RED_DNS, "domainName": RED_DOMAIN},
        {"routingDomainId": BLUE_RD, "dnsServers": BLUE_DNS, "domainName": BLUE_DOMAIN}]
    sc = Scenario("dhcp",
                  "DHCP from policy (section 5): red1 and blue1, both 10.1.1.7 in their own "
                  "tenant, are offered and acknowledged their own CA with their own routing "
                  "domain's DNS settings; NAK for other addresses; INFORM; RELEASE / DECLINE "
                  "taken in; spoofed chaddr, garbage, no record, no on-link route.", cfg)
    red_mask = "255.255.255.0"
    red = dict(subnet_mask=red_mask, dns=RED_DNS, domain=RED_DOMAIN)
    blue = dict(subnet_mask=red_mask, dns=BLUE_DNS, domain=BLUE_DOMAIN)

    def red_reply(xid, flags, msg_type, **kw):
        return [("red1", dhcp_reply_frame(RED1_MAC, xid, flags, msg_type, RED_GW, **kw))]

    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x1001),
            red_reply(0x1001, 0, 2, client_ca=RED1_CA, **red),
            note="DISCOVER -> OFFER 10.1.1.7, unicast to yiaddr at chaddr")
    sel = [("server_id", RED_GW), ("requested_addr", RED1_CA)]
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1002, flags=0x8000, extra=sel),
            red_reply(0x1002, 0x8000, 5, client_ca=RED1_CA, **red),
            note="REQUEST (selecting, BROADCAST flag) -> ACK, broadcast")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1003, extra=[("requested_addr", "10.1.1.99")]),
            red_reply(0x1003, 0, 6), note="REQUEST (init-reboot) for 10.1.1.99 -> NAK, broadcast")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1004,
                                       extra=[("server_id", "10.1.1.254"), ("requested_addr", RED1_CA)]),
            red_reply(0x1004, 0, 6), note="REQUEST naming server 10.1.1.254 -> NAK")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1005, ciaddr=RED1_CA, src_ip=RED1_CA,
                                       dst_ip=RED_GW, eth_dst=GW_MAC),
            red_reply(0x1005, 0, 5, client_ca=RED1_CA, ciaddr=RED1_CA, request_ciaddr=RED1_CA, **red),
            note="REQUEST (renewing) unicast to the gateway -> ACK to ciaddr")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1006, ciaddr=RED1_CA, src_ip=RED1_CA),
            red_reply(0x1006, 0, 5, client_ca=RED1_CA, ciaddr=RED1_CA, request_ciaddr=RED1_CA, **red),
            note="REQUEST (rebinding) broadcast -> ACK unicast to ciaddr")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 3, 0x1007, ciaddr="10.1.1.33", src_ip="10.1.1.33"),
            red_reply(0x1007, 0, 6), note="REQUEST (rebinding) from 10.1.1.33 -> NAK")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 8, 0x1008, ciaddr=RED1_CA, src_ip=RED1_CA,
                                       dst_ip=RED_GW, eth_dst=GW_MAC),
            red_reply(0x1008, 0, 5, ciaddr=RED1_CA, request_ciaddr=RED1_CA, **red),
            note="INFORM -> ACK without lease, yiaddr 0")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 8, 0x1009, ciaddr=REMOTE_CA, src_ip=REMOTE_CA),
            drop="spoofed_source", note="INFORM for 10.1.1.8 (not red1's)")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 7, 0x100A, ciaddr=RED1_CA, src_ip=RED1_CA,
                                       dst_ip=RED_GW, eth_dst=GW_MAC, extra=[("server_id", RED_GW)]),
            drop="dhcp_release", note="RELEASE")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 4, 0x100B, extra=sel), drop="dhcp_decline",
            note="DECLINE")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x100C, chaddr=BLUE1_MAC),
            drop="spoofed_source", note="DISCOVER from red1 with Blue-1's chaddr")
    odd = [("message-type", 1), "pad", "pad", (224, b"\x01\x02\x03"), (43, b""),
           (81, b"\x00\x00\x00vm"), ("param_req_list", PRL)]  # no end option
    sc.send("red1", dhcp_request_frame(RED1_MAC, None, 0x100D, options=odd,
                                       ip_options=[IPOption_Router_Alert()]),
            red_reply(0x100D, 0, 2, client_ca=RED1_CA, **red),
            note="DISCOVER with IP options, pads, unknown options, no end -> OFFER")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x100E, cut=200), drop="dhcp_malformed",
            note="BOOTP message cut to 200 bytes")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x100F, cookie=b"c\x82Sd"),
            drop="dhcp_malformed", note="wrong magic cookie")
    sc.send("red1", dhcp_request_frame(RED1_MAC, None, 0x1010,
                                       options=[("message-type", 1), (12, b"vm"), "end"], cut=240 + 3 + 3),
            drop="dhcp_malformed", note="option running past the end")
    sc.send("red1", dhcp_request_frame(RED1_MAC, None, 0x1011, options=[("hostname", b"vm"), "end"]),
            drop="dhcp_malformed", note="plain BOOTP: no option 53")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x1012, op=2), drop="dhcp_malformed",
            note="BOOTREPLY sent by the VM")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x1013, giaddr="10.1.1.99"),
            drop="dhcp_malformed", note="relayed (giaddr 10.1.1.99)")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 2, 0x1014), drop="dhcp_malformed",
            note="an OFFER sent by the VM")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 1, 0x1015, dst_ip="224.0.0.1",
                                       eth_dst="01-00-5E-00-00-01"),
            drop="flooding_disabled", note="68 -> 67 to a multicast group: not DHCP")
    sc.send("red1", dhcp_request_frame(RED1_MAC, 2, 0x1016, sport=67, dport=68),
            drop="flooding_disabled", note="67 -> 68 broadcast from the VM: not DHCP")
    sc.send("blue1", dhcp_request_frame(BLUE1_MAC, 1, 0x2001, flags=0x8000),
            [("blue1", dhcp_reply_frame(BLUE1_MAC, 0x2001, 0x8000, 2, RED_GW, client_ca=RED1_CA, **blue))],
            note="Blue DISCOVER (BROADCAST flag) -> OFFER of Blue's 10.1.1.7 with Blue's DNS")
    sc.send("blue1", dhcp_request_frame(BLUE1_MAC, 3, 0x2002, extra=sel),
            [("blue1", dhcp_reply_frame(BLUE1_MAC, 0x2002, 0, 5, RED_GW, client_ca=RED1_CA, **blue))],
            note="Blue REQUEST -> ACK")
    sc.send("red4", dhcp_request_frame(no_record_mac, 1, 0x3001), drop="no_lookup_record",
            note="DISCOVER on a port with no record")
    sc.send("red5", dhcp_request_frame(off_link_mac, 1, 0x3002), drop="no_route",
            note="DISCOVER for 10.9.9.5: no on-link route holds it")
    return sc


def s_external_gateway():
    """The dataplane as the NVGRE gateway: an external port in Red's gateway subnet."""
    ext_mac, onprem_mac, router_mac = "02-00-00-00-EE-01", "02-00-00-00-AA-10", "02-00-00-00-AA-FE"
    ext_vsid, ext_ip, onprem = 5099, "172.16.0.1", "172.16.0.10"
    ext6, onprem6, router6 = "2001:db8:16::1", "2001:db8:16::10", "2001:db8:16::fe"
    ext_port = {"name": "ext0", "role": "external", "macAddress": ext_mac, "mtu": 1500,
                "virtualSubnetId": ext_vsid, "address": ext_ip, "prefixLength": 24,
                "nextHop": "172.16.0.254", "address6": ext6, "prefixLength6": 64,
                "nextHop6": router6, "vlanId": 0}
    cfg = make_config(
        [provider_port(), RED1_PORT, BLUE1_PORT, ext_port],
        RED_RECORDS + BLUE_RECORDS
        + [record("10.1.99.2", ext_vsid, ext_mac, PA_LOCAL, vm_name="Red-GW"),
           dict(record("0.0.0.0", ext_vsid, ext_mac, PA_LOCAL), type="GatewayWildcard"),
           record(RED6_LOCAL, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
           record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2"),
           record("2001:db8:99::2", ext_vsid, ext_mac, PA_LOCAL, vm_name="Red-GW"),
           dict(record("::", ext_vsid, ext_mac, PA_LOCAL), type="GatewayWildcard")],
        RED_ROUTES + [route(RED_RD, ext_vsid, "10.1.99.0/24"),
                      route(RED_RD, ext_vsid, "0.0.0.0/0", "10.1.99.2"),
                      route(RED_RD, RED_VSID, "2001:db8:1::/64"),
                      route(RED_RD, ext_vsid, "2001:db8:99::/64"),
                      route(RED_RD, ext_vsid, "::/0", "2001:db8:99::2")] + BLUE_ROUTES)
    sc = Scenario("external-gateway",
                  "hv1 is Red's NVGRE gateway: external port ext0 (172.16.0.1/24, next hop "
                  "172.16.0.254) in the gateway subnet VSID 5099, whose CA 10.1.99.2 and "
                  "GatewayWildcard record carry ext0's MAC. NVGRE and routed VM traffic for "
                  "outside addresses leaves ext0 (TTL - 1, next hop resolved by ARP); traffic "
                  "from outside is routed into the tenant; Blue never gets out. The same over "
                  "IPv6: ext0 also has 2001:db8:16::1/64 (next hop ::fe), gateway CA "
                  "2001:db8:99::2, a :: GatewayWildcard record; next hops resolved by neighbor "
                  "discovery, NS and ping6 for ::1 answered.", cfg)
    out1 = ip4(REMOTE_CA, onprem, tcp(40010, 80, "S", seq=11), ident=0xE101, ttl=63)
    sc.send("pnic0", decap_input4(ext_vsid, ether(ext_mac, GW_MAC, 0x0800) + out1, out1, flow=0x31),
            [("ext0", ether("FF-FF-FF-FF-FF-FF", ext_mac, 0x0806)
              + arp(1, ext_mac, ext_ip, "00-00-00-00-00-00", onprem))],
            note="NVGRE VSID 5099 from 10.1.1.8 for 172.16.0.10: parked, ARP for it on ext0")
    sc.send("ext0", pad60(ether(ext_mac, onprem_mac, 0x0806) + arp(2, onprem_mac, onprem, ext_mac, ext_ip)),
            [("ext0", ether(onprem_mac, ext_mac, 0x0800)
              + ip4(REMOTE_CA, onprem, tcp(40010, 80, "S", seq=11), ident=0xE101, ttl=62))],
            note="the ARP answer releases it: out of ext0, TTL 62")
    def route_in(ethertype, back, remote, local, hops):
        """From outside to the remote VM (NVGRE to its PA) and to the local red1, one hop less."""
        source = onprem if ethertype == 0x0800 else onprem6
        sc.send("ext0", ether(ext_mac, onprem_mac, ethertype) + back(remote, 64),
                [("pnic0", encap_expected4(ether(RED_REMOTE_MAC, GW_MAC, ethertype) + back(remote, 63),
                                           back(remote, 63), RED_VSID))],
                note="%s -> %s: routed in, NVGRE VSID 5001 to its PA, %s 63" % (source, remote, hops))
        sc.send("ext0", ether(ext_mac, onprem_mac, ethertype) + back(local, 64),
                [("red1", ether(RED1_MAC, GW_MAC, ethertype) + back(local, 63))],
                note="%s -> %s: routed in to the local red1, %s 63" % (source, local, hops))

    back = lambda dst, ttl: ip4(onprem, dst, tcp(80, 40010, "SA", seq=21, ack=12), ident=0xE102, ttl=ttl)  # noqa: E731
    route_in(0x0800, back, REMOTE_CA, RED1_CA, "TTL")
    out2 = lambda ttl: ip4(RED1_CA, onprem, udp(40011, 33434, 20, 4), ident=0xE103, ttl=ttl)  # noqa: E731
    sc.send("red1", red1_frame(GW_MAC, out2(64)), [("ext0", ether(onprem_mac, ext_mac, 0x0800) + out2(62))],
            note="red1 -> 172.16.0.10 via the gateway MAC: two router hops, out of ext0 at once")
    out3 = lambda ttl: ip4(RED1_CA, "8.8.8.8", udp(40012, 33435, 20, 5), ident=0xE104, ttl=ttl)  # noqa: E731
    sc.send("red1", red1_frame(GW_MAC, out3(64)),
            [("ext0", ether("FF-FF-FF-FF-FF-FF", ext_mac, 0x0806)
              + arp(1, ext_mac, ext_ip, "00-00-00-00-00-00", "172.16.0.254"))],
            note="red1 -> 8.8.8.8: beyond 172.16.0.0/24, ARP for the next hop 172.16.0.254")
    sc.send("ext0", pad60(ether(ext_mac, router_mac, 0x0806) + arp(2, router_mac, "172.16.0.254", ext_mac, ext_ip)),
            [("ext0", ether(router_mac, ext_mac, 0x0800) + out3(62))],
            note="the router's answer releases it")
    sc.send("ext0", arp_request_frame(onprem_mac, onprem, ext_ip),
            [("ext0", arp_reply_frame(onprem_mac, onprem, ext_mac, ext_ip))],
            note="who-has 172.16.0.1 on ext0 -> the port MAC")
    ping = ip4(onprem, ext_ip, icmp_echo(0x77, 1, 16), ident=0xE105)
    pong = bytes(IP(src=ext_ip, dst=onprem, id=0xE105, flags="DF", ttl=64) / icmp_echo(0x77, 1, 16, reply=True))
    sc.send("ext0", ether(ext_mac, onprem_mac, 0x0800) + ping, [("ext0", ether(onprem_mac, ext_mac, 0x0800) + pong)],
            note="ping 172.16.0.1 -> echo reply, TTL 64")
    dying = back(RED1_CA, 1)
    exceeded = icmp_time_exceeded(onprem_mac, dying, ext_ip, onprem)
    sc.send("ext0", ether(ext_mac, onprem_mac, 0x0800) + dying,
            [("ext0", ether(onprem_mac, ext_mac, 0x0800) + exceeded[14:])],
            drop="ttl_expired", note="TTL 1 from outside: ICMP time exceeded from 172.16.0.1")
    sc.send("ext0", ether(ext_mac, onprem_mac, 0x0800) + ip4(onprem, "8.8.4.4", udp(33436, 40013, 8, 6)),
            drop="no_route", note="outside to outside: Red's default route leads back to ext0")
    sc.send("blue1", ether(GW_MAC, BLUE1_MAC, 0x0800) + ip4(RED1_CA, onprem, udp(40014, 33437, 8, 7)),
            drop="no_route", note="Blue (no route out) to 172.16.0.10")
    # IPv6 (section 6 with A = 2001:db8:16::1): ND instead of ARP, hop limit instead of TTL.
    ns_dst, ns = ns_frame(ext_mac, ext6, onprem6)
    out6 = lambda hlim: ip6(RED6_REMOTE, onprem6, tcp(40020, 80, "S", seq=31), hlim=hlim)  # noqa: E731
    sc.send("pnic0", decap_input4(ext_vsid, ether(ext_mac, GW_MAC, 0x86DD) + out6(63), out6(63), flow=0x32),
            [("ext0", ether(ns_dst, ext_mac, 0x86DD) + ns)],
            note="NVGRE VSID 5099 from 2001:db8:1::8 for 2001:db8:16::10: parked, NS for it on ext0")
    def released_by_na(neighbor_mac, neighbor_ip, router, packet, note):
        """The neighbor's solicited advertisement (1.5 layout, to the port) releases the parked packet."""
        sc.send("ext0", na_frame(ext_mac, ext6, neighbor_mac, neighbor_ip, router=router),
                [("ext0", ether(neighbor_mac, ext_mac, 0x86DD) + packet)], note=note)

    released_by_na(onprem_mac, onprem6, False, out6(62), "the NA answering it releases it: out of ext0, hop limit 62")
    back6 = lambda dst, hlim: ip6(onprem6, dst, tcp(80, 40020, "SA", seq=41, ack=32), hlim=hlim)  # noqa: E731
    route_in(0x86DD, back6, RED6_REMOTE, RED6_LOCAL, "hop limit")
    out7 = lambda hlim: ip6(RED6_LOCAL, onprem6, udp(40021, 33438, 20, 8), hlim=hlim)  # noqa: E731
    sc.send("red1", red1_frame(GW_MAC, out7(64), 0x86DD), [("ext0", ether(onprem_mac, ext_mac, 0x86DD) + out7(62))],
            note="red1 -> 2001:db8:16::10 via the gateway MAC: two router hops, out of ext0 at once")
    out8 = lambda hlim: ip6(RED6_LOCAL, "2001:4860::8888", udp(40022, 33439, 20, 9), hlim=hlim)  # noqa: E731
    ns_dst, ns = ns_frame(ext_mac, ext6, router6)
    sc.send("red1", red1_frame(GW_MAC, out8(64), 0x86DD), [("ext0", ether(ns_dst, ext_mac, 0x86DD) + ns)],
            note="red1 -> 2001:4860::8888: beyond 2001:db8:16::/64, NS for the next hop ::fe")
    released_by_na(router_mac, router6, True, out8(62), "the router's NA releases it")
    ns_dst, ns = ns_frame(onprem_mac, onprem6, ext6)
    sc.send("ext0", ether(ns_dst, onprem_mac, 0x86DD) + ns,
            [("ext0", na_frame(onprem_mac, onprem6, ext_mac, ext6, router=True))],
            note="NS for 2001:db8:16::1 on ext0 -> NA R|S|O with the port MAC")
    ping6 = ip6(onprem6, ext6, icmp6_echo(0x78, 1, 16), hlim=57)
    pong6 = ip6(ext6, onprem6, icmp6_echo(0x78, 1, 16, reply=True), hlim=64)
    sc.send("ext0", ether(ext_mac, onprem_mac, 0x86DD) + ping6, [("ext0", ether(onprem_mac, ext_mac, 0x86DD) + pong6)],
            note="ping6 2001:db8:16::1 -> echo reply, hop limit 64")
    dying6 = back6(RED6_LOCAL, 1)
    exceeded6 = ip6(ext6, onprem6, ICMPv6TimeExceeded(code=0) / Raw(dying6), hlim=64)
    sc.send("ext0", ether(ext_mac, onprem_mac, 0x86DD) + dying6,
            [("ext0", ether(onprem_mac, ext_mac, 0x86DD) + exceeded6)],
            drop="ttl_expired", note="hop limit 1 from outside: ICMPv6 time exceeded from 2001:db8:16::1")
    # 6 In 4: the wildcard stands for addresses outside the virtual network only.
    for source, what, seed in [(REMOTE_CA, "Red-2's CA", 10), (RED_GW, "Red's gateway address, a DHCP answer", 11),
                               ("10.1.1.255", "a subnet's broadcast address", 12), (ext_ip, "the port's own address", 13)]:
        sport, dport = (67, 68) if source == RED_GW else (40000, 53)
        sc.send("ext0", ether(ext_mac, onprem_mac, 0x0800) + ip4(source, RED1_CA, udp(sport, dport, 8, seed)),
                drop="spoofed_source", note="from outside as %s (%s)" % (source, what))
    return sc


def s_l2only():
    """FORWARDING section 7: L2Only records and the Dynamic bindings learned from traffic."""
    l2_mac, l2_remote_mac = "00-15-5D-00-00-20", "00-15-5D-00-00-21"
    l2only = lambda vsid, mac_address, pa_address: dict(  # noqa: E731
        record("0.0.0.0", vsid, mac_address, pa_address), type="L2Only")
    cfg = make_config(
        [provider_port(), RED1_PORT, vm_port("l2vm", l2_mac, RED_VSID, "Red-L2"), BLUE1_PORT],
        RED_RECORDS + [l2only(RED_VSID, l2_mac, PA_LOCAL), l2only(RED_VSID, l2_remote_mac, PA_REMOTE)]
        + BLUE_RECORDS,
        RED_ROUTES + BLUE_ROUTES)
    sc = Scenario("l2only",
                  "L2Only records (CA 0.0.0.0): the local VM l2vm and a remote one (PA "
                  "192.168.1.11) use addresses no record names; each is learned as a Dynamic "
                  "binding (VSID, CA) -> the L2Only record, from the VM's own frames here and from "
                  "its NVGRE (outer source = the record's PA) there, and then resolves unicast and "
                  "ARP toward it. Other VMs may not send from such addresses; Blue never sees Red's "
                  "bindings; a static CA is never learned.", cfg)
    # Sent by l2vm from an address of its own DHCP server: accepted, encapsulated from its PA.
    out = ip4("10.1.1.50", REMOTE_CA, udp(40000, 33053, 24, 1), ident=0xF001)
    out_frame = ether(RED_REMOTE_MAC, l2_mac, 0x0800) + out
    sc.send("l2vm", out_frame, [("pnic0", encap_expected4(out_frame, out, RED_VSID))],
            note="l2vm from 10.1.1.50 (no record) -> 10.1.1.8: learned, NVGRE VSID 5001")
    sc.send("red1", red1_frame(RED_REMOTE_MAC, ip4("10.1.1.50", REMOTE_CA, udp(40000, 33053, 24, 2))),
            drop="spoofed_source", note="red1 (no L2Only record) from 10.1.1.50")
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, "10.1.1.50"),
            [("red1", arp_reply_frame(RED1_MAC, RED1_CA, l2_mac, "10.1.1.50"))],
            note="ARP for the learned 10.1.1.50: answered with the L2Only record's MAC")
    to_l2 = red1_frame(l2_mac, ip4(RED1_CA, "10.1.1.50", udp(33053, 40000, 24, 3), ident=0xF002))
    sc.send("red1", to_l2, [("l2vm", to_l2)], note="red1 -> learned 10.1.1.50: delivered to l2vm")
    # The remote L2Only VM's traffic, vouched for by its record's PA.
    remote = ip4("10.1.1.60", RED1_CA, udp(40001, 33053, 24, 4), ident=0xF003)
    remote_inner = ether(RED1_MAC, l2_remote_mac, 0x0800) + remote
    sc.send("pnic0", decap_input4(RED_VSID, remote_inner, remote, flow=0x31), [("red1", remote_inner)],
            note="NVGRE from 192.168.1.11, inner 10.1.1.60 from the remote L2Only MAC: learned, delivered")
    spoof = ip4("10.1.1.61", RED1_CA, udp(40001, 33053, 24, 5), ident=0xF004)
    spoof_inner = ether(RED1_MAC, l2_remote_mac, 0x0800) + spoof
    sc.send("pnic0", decap_input4(RED_VSID, spoof_inner, spoof, pa_src="192.168.1.12", flow=0x32),
            drop="pa_mismatch", note="the same MAC from 10.1.1.61 via PA 192.168.1.12: not the record's PA")
    back = ip4(RED1_CA, "10.1.1.60", udp(33053, 40001, 24, 6), ident=0xF005)
    back_frame = red1_frame(l2_remote_mac, back)
    sc.send("red1", back_frame, [("pnic0", encap_expected4(back_frame, back, RED_VSID))],
            note="red1 -> learned 10.1.1.60: NVGRE to the remote L2Only record's PA")
    inbound = ip4(REMOTE_CA, "10.1.1.50", udp(33053, 40000, 24, 7), ident=0xF006)
    inbound_inner = ether(l2_mac, RED_REMOTE_MAC, 0x0800) + inbound
    sc.send("pnic0", decap_input4(RED_VSID, inbound_inner, inbound, flow=0x33), [("l2vm", inbound_inner)],
            note="NVGRE for the learned 10.1.1.50 (no record): delivered to l2vm")
    sc.send("blue1", ether(l2_mac, BLUE1_MAC, 0x0800) + ip4(RED1_CA, "10.1.1.50", udp(40000, 53, 8, 8)),
            drop="no_lookup_record", note="Blue -> 10.1.1.50: Red's binding is not Blue's")
    sc.send("l2vm", ether(RED1_MAC, l2_mac, 0x0800) + ip4(REMOTE_CA, RED1_CA, udp(40000, 53, 8, 9)),
            drop="spoofed_source", note="l2vm from 10.1.1.8 (a static record's CA): never learned")
    sc.send("red1", red1_frame(l2_remote_mac, ip4(RED1_CA, "10.1.1.61", udp(40000, 53, 8, 10))),
            drop="no_lookup_record", note="red1 -> 10.1.1.61 (refused above, so never learned)")
    sc.learned = [
        {"virtualSubnetId": RED_VSID, "customerAddress": "10.1.1.50", "macAddress": l2_mac,
         "providerAddress": PA_LOCAL, "type": "Dynamic"},
        {"virtualSubnetId": RED_VSID, "customerAddress": "10.1.1.60", "macAddress": l2_remote_mac,
         "providerAddress": PA_REMOTE, "type": "Dynamic"},
    ]
    return sc


def s_flooding():
    """Broadcast and multicast with flooding on for Red (1.7, 2.4): replicated by unicast, WS2012
    R2 style, to the other Red VM here and once to every remote PA with an Encap record of Red;
    Blue (same CAs) keeps flooding off and never sees a copy."""
    hv3_pa, hv3_mac = "192.168.1.12", "02-00-00-00-01-0C"
    hv4_pa, hv4_mac = "192.168.1.13", "02-00-00-00-01-0D"
    red3_ca = "10.1.1.3"
    cfg = make_config(
        [provider_port(), RED1_PORT, RED3_PORT, BLUE1_PORT],
        [record(RED1_CA, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
         record(red3_ca, RED_VSID, RED3_MAC, PA_LOCAL, vm_name="Red-3"),
         record(REMOTE_CA, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2"),
         record("10.1.1.9", RED_VSID, "00-15-5D-00-00-09", PA_REMOTE, vm_name="Red-9"),  # same PA: one copy
         record("10.1.1.10", RED_VSID, "00-15-5D-00-00-10", hv3_pa, vm_name="Red-10"),
         record("10.1.1.20", RED_VSID, "00-15-5D-00-00-20", "192.168.1.20", rule="TranslationMethodNat",
                vm_name="Red-NAT"),  # a NAT record gets no copy
         record(RED6_LOCAL, RED_VSID, RED1_MAC, PA_LOCAL, vm_name="Red-1"),
         record(RED1_CA, BLUE_VSID, BLUE1_MAC, PA_LOCAL, vm_name="Blue-1"),
         record(REMOTE_CA, BLUE_VSID, BLUE_REMOTE_MAC, PA_REMOTE, vm_name="Blue-2"),
         record("10.1.1.30", BLUE_VSID, "00-15-5D-00-01-30", hv4_pa, vm_name="Blue-30")],
        RED_ROUTES + BLUE_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")],
        neighbors=[neighbor(PA_REMOTE, HV2_MAC), neighbor(hv3_pa, hv3_mac), neighbor(hv4_pa, hv4_mac)])
    cfg["virtualSubnets"] = [{"virtualSubnetId": RED_VSID, "flooding": True},
                             {"virtualSubnetId": BLUE_VSID, "flooding": False}]
    sc = Scenario("flooding",
                  "virtualSubnets: flooding on for Red (5001), off for Blue (6001). A Red broadcast "
                  "or multicast from red1 goes to red3 and, as NVGRE VSID 5001, once to each remote "
                  "Red PA (192.168.1.11 holds two records, 192.168.1.12 one; the NAT record none); "
                  "NVGRE broadcast for Red reaches red1 and red3 and is never sent on; Blue, with the "
                  "same CAs, gets nothing and drops its own as flooding_disabled.", cfg)

    def flood(frame, packet, note):
        """1.7: red3 gets the frame, then one NVGRE copy per remote PA in record order."""
        sc.send("red1", frame, [("red3", red1_frame_unpadded(packet, frame)),
                                ("pnic0", encap_expected4(red1_frame_unpadded(packet, frame), packet, RED_VSID)),
                                ("pnic0", encap_expected4(red1_frame_unpadded(packet, frame), packet, RED_VSID,
                                                          pa_dst=hv3_pa, next_hop_mac=hv3_mac))],
                note=note)

    bcast = ip4(RED1_CA, "10.1.1.255", udp(40000, 5001, 32, 1), ident=0xF001, df=False)
    flood(red1_frame("FF-FF-FF-FF-FF-FF", bcast), bcast, "UDP to 10.1.1.255, broadcast MAC")
    short = ip4(RED1_CA, "10.1.1.255", udp(40001, 5001, 4, 2), ident=0xF002, df=False)
    flood(pad60(red1_frame("FF-FF-FF-FF-FF-FF", short)), short,
          "short broadcast padded to 60 bytes: every copy without the padding")
    mcast = ip4(RED1_CA, "224.0.0.251", udp(40002, 33053, 40, 3), tos=0xB8, ident=0xF003, ttl=255, df=False)
    flood(red1_frame("01-00-5E-00-00-FB", mcast), mcast, "UDP to 224.0.0.251, TOS 0xB8 copied outside")
    flood(red1_frame(RED3_MAC, mcast), mcast, "multicast IP in a unicast frame")
    limited = ip4(RED1_CA, "255.255.255.255", udp(40003, 33054, 50, 4), ident=0xF004, df=False)
    flood(red1_frame("FF-FF-FF-FF-FF-FF", limited), limited, "UDP to 255.255.255.255")
    mcast6 = ip6(RED6_LOCAL, "ff02::fb", udp(40004, 33055, 40, 5), hlim=255)
    flood(red1_frame("33-33-00-00-00-FB", mcast6, 0x86DD), mcast6, "UDP to IPv6 multicast ff02::fb")
    # 1.2: ARP stays answered locally, never flooded.
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, REMOTE_CA),
            [("red1", arp_reply_frame(RED1_MAC, RED1_CA, RED_REMOTE_MAC, REMOTE_CA))],
            note="ARP for 10.1.1.8: answered here, not flooded")
    sc.send("red1", arp_request_frame(RED1_MAC, RED1_CA, "10.1.1.99"), drop="arp_unresolved",
            note="ARP for unknown 10.1.1.99: unanswered, not flooded")
    # 1.7: the source checks of unicast.
    sc.send("red1", red1_frame("FF-FF-FF-FF-FF-FF", ip4(REMOTE_CA, "10.1.1.255", udp(40000, 5001, 32, 1),
                                                        ident=0xF005, df=False)),
            drop="spoofed_source", note="broadcast from 10.1.1.8 (another VM's CA)")
    # Blue keeps flooding off, with the same CAs.
    sc.send("blue1", ether("FF-FF-FF-FF-FF-FF", BLUE1_MAC, 0x0800) + bcast, drop="flooding_disabled",
            note="Blue's broadcast: flooding off for 6001")
    # 2.4: NVGRE broadcast for Red, from the inner source's PA: every Red VM here, nothing sent on.
    red_in = ip4(REMOTE_CA, "10.1.1.255", udp(40000, 5001, 32, 6), ident=0xF101, df=False)
    inner = ether("FF-FF-FF-FF-FF-FF", RED_REMOTE_MAC, 0x0800) + red_in
    sc.send("pnic0", decap_input4(RED_VSID, inner, red_in, flow=0x41), [("red1", inner), ("red3", inner)],
            note="NVGRE 5001 broadcast from 10.1.1.8 via its PA -> red1 and red3")
    mcast_in = ip4("10.1.1.10", "224.0.0.251", udp(40005, 33053, 40, 7), ident=0xF102, ttl=255, df=False)
    inner = ether("01-00-5E-00-00-FB", "00-15-5D-00-00-10", 0x0800) + mcast_in
    sc.send("pnic0", decap_input4(RED_VSID, inner, mcast_in, pa_src=hv3_pa, src_mac=hv3_mac, flow=0x42),
            [("red1", inner), ("red3", inner)], note="NVGRE 5001 multicast from 10.1.1.10 via 192.168.1.12")
    inner = ether("FF-FF-FF-FF-FF-FF", RED_REMOTE_MAC, 0x0800) + red_in
    sc.send("pnic0", decap_input4(RED_VSID, inner, red_in, pa_src=hv3_pa, src_mac=hv3_mac, flow=0x43),
            drop="pa_mismatch", note="NVGRE 5001 broadcast claiming 10.1.1.8 from 192.168.1.12")
    blue_in = ip4(REMOTE_CA, "10.1.1.255", udp(40000, 5001, 32, 8), ident=0xF103, df=False)
    inner = ether("FF-FF-FF-FF-FF-FF", BLUE_REMOTE_MAC, 0x0800) + blue_in
    sc.send("pnic0", decap_input4(BLUE_VSID, inner, blue_in, flow=0x44), drop="flooding_disabled",
            note="NVGRE 6001 broadcast: flooding off for Blue")
    return sc


# --------------------------------------------------------------------------------------
# Section 8: live migration (relay, MS-NVGREE REDIRECT / UNREACHABLE)
# --------------------------------------------------------------------------------------
RELAYED = set()  # expected relays: their outer header keeps the sender's PA, id and FlowID


def mac_text(raw):
    return "-".join("%02X" % b for b in raw)


def offending_packet(frame):
    """The outer IP packet of an NVGRE frame (IP header, GRE, inner frame; padding cut)."""
    l3 = 14
    if frame[12:14] == b"\x08\x00":
        return frame[l3:l3 + struct.unpack("!H", frame[l3 + 2:l3 + 4])[0]]
    return frame[l3:l3 + 40 + struct.unpack("!H", frame[l3 + 4:l3 + 6])[0]]


def nve_message(kind, offending, vsid, target=None, ca=None, to_mac=None, from_mac=PNIC_MAC,
                from_pa=None, to_pa=None):
    """Section 8: a REDIRECT (naming `target`) or UNREACHABLE about the NVGRE frame `offending`,
    from the PA it was sent to back to its sender's PA, NVGRE in the flow's VSID (FlowID 0):
    inner Ethernet NVE to NVE, inner IP PA to PA, ICMP 5/10 or 3/10 (IPv4 PAs), ICMPv6 137/1
    with a Redirected Header option or 1/1 (IPv6 PAs), quoting the offending outer IP packet
    up to a 576 / 1280-byte message packet."""
    quote = offending_packet(offending)
    version = quote[0] >> 4
    if from_pa is None:  # the receiver of `offending` answers its sender
        to_pa = socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, quote[12:16] if version == 4 else quote[8:24])
        from_pa = socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, quote[16:20] if version == 4 else quote[24:40])
        to_mac = mac_text(offending[6:12])
    if ":" not in from_pa:
        icmp = ICMP(type=5, code=10, gw=target) if kind == "redirect" else ICMP(type=3, code=10)
        packet = IP(src=from_pa, dst=to_pa, tos=0, id=0, flags=0, ttl=128) / icmp / Raw(quote[:576 - 28])
        inner = ether(to_mac, from_mac, 0x0800) + bytes(packet)
        return nvgre4(to_mac, from_mac, from_pa, to_pa, vsid, inner, 0)
    if kind == "redirect":
        quote = quote[:(1280 - 40 - 48) // 8 * 8]
        quote += b"\x00" * (-len(quote) % 8)
        dst = ca if ":" in ca else "::ffff:" + ca
        packet = IPv6(src=from_pa, dst=to_pa, hlim=255) / ICMPv6ND_Redirect(code=1, tgt=target, dst=dst) \
            / ICMPv6NDOptRedirectedHdr(pkt=quote)
    else:
        packet = IPv6(src=from_pa, dst=to_pa, hlim=128) / ICMPv6DestUnreach(code=1) / Raw(quote[:1280 - 48])
    inner = ether(to_mac, from_mac, 0x86DD) + bytes(packet)
    return nvgre6(to_mac, from_mac, from_pa, to_pa, vsid, inner, 0)


def relayed(frame, new_pa, next_hop_mac):
    """Section 8: the frame as relayed: outer destination = the new PA, TTL / hop limit - 1, IPv4
    header checksum recomputed, sender's PA and everything after the outer IP header kept;
    Ethernet to the next hop toward the new PA from our provider port."""
    ip = bytearray(offending_packet(frame))
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 0x0F) * 4
        ip[8] -= 1
        ip[16:20] = socket.inet_aton(new_pa)
        ip[10:12] = b"\x00\x00"
        ip[10:12] = struct.pack("!H", inet_checksum(bytes(ip[:ihl])))
        out = ether(next_hop_mac, PNIC_MAC, 0x0800) + bytes(ip)
    else:
        ip[7] -= 1
        ip[24:40] = socket.inet_pton(socket.AF_INET6, new_pa)
        out = ether(next_hop_mac, PNIC_MAC, 0x86DD) + bytes(ip)
    RELAYED.add(out)
    return out


def s_migration():
    """Section 8, on the host a VM leaves (hv1) and on a sender: Red-1 (10.1.1.7 and
    2001:db8:1::7) and Red-4 (on an IPv6 PA) move to hv3; NVGRE still arriving for them is relayed
    to hv3 with the sender's PA kept, and the sender gets a REDIRECT (at most one per 100 ms per
    sender PA, VSID and CA); a CA with no VM here gets its genuine sender an UNREACHABLE; trusted
    REDIRECTs from the owner PA are applied, others ignored; moves back and grace expiry."""
    hv3_pa, hv3_mac = "192.168.1.12", "02-00-00-00-01-0C"
    hv4_pa, hv4_mac = "192.168.1.13", "02-00-00-00-01-0D"
    pa6_hv3 = "2001:db8:ffff::12"
    red4_mac, red5_mac, red6_mac, red9_mac = ("00-15-5D-00-00-04", "00-15-5D-00-00-05",
                                              "00-15-5D-00-00-06", "00-15-5D-00-00-09")
    red7_mac = "00-15-5D-00-00-07"
    red3_ca = "10.1.1.3"

    def config(red1_pa, red4_pa, red5_pa, red9_pa, grace=None):
        cfg = make_config(
            [provider_port(), RED1_PORT, RED3_PORT, vm_port("red4", red4_mac, RED_VSID, "Red-4")],
            [record(RED1_CA, RED_VSID, RED1_MAC, red1_pa, vm_name="Red-1"),
             record(RED6_LOCAL, RED_VSID, RED1_MAC, red1_pa, vm_name="Red-1"),
             record(red3_ca, RED_VSID, RED3_MAC, PA_LOCAL, vm_name="Red-3"),
             record("10.1.1.4", RED_VSID, red4_mac, red4_pa, vm_name="Red-4"),
             record("10.1.1.5", RED_VSID, red5_mac, red5_pa, vm_name="Red-5"),
             record(REMOTE_CA, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2"),
             record(RED6_REMOTE, RED_VSID, RED_REMOTE_MAC, PA_REMOTE, vm_name="Red-2"),
             record("10.1.1.6", RED_VSID, red6_mac, PA6_REMOTE, vm_name="Red-6"),
             record("10.1.1.9", RED_VSID, red9_mac, red9_pa, vm_name="Red-9"),
             # Tenants may hold CAs equal to PAs (8.4): Red-3 also 192.168.1.10 (hv1's PA),
             # Red-7 on hv2 192.168.1.11 (hv2's PA).
             record(PA_LOCAL, RED_VSID, RED3_MAC, PA_LOCAL, vm_name="Red-3"),
             record(PA_REMOTE, RED_VSID, red7_mac, PA_REMOTE, vm_name="Red-7")],
            RED_ROUTES + [route(RED_RD, RED_VSID, "2001:db8:1::/64")],
            pas=[pa(PA_LOCAL, 24), pa(PA6_LOCAL, 64)],
            neighbors=[neighbor(PA_REMOTE, HV2_MAC), neighbor(hv3_pa, hv3_mac), neighbor(hv4_pa, hv4_mac),
                       neighbor(PA6_REMOTE, HV2_MAC), neighbor(pa6_hv3, hv3_mac)])
        cfg["global"]["trustRedirects"] = True
        if grace is not None:
            cfg["global"]["migrationGraceSeconds"] = grace
        return cfg

    sc = Scenario("migration",
                  "Live migration on hv1 (section 8, replayed with two policy reloads): Red-1 "
                  "(10.1.1.7, 2001:db8:1::7) moves to hv3 192.168.1.12, Red-4 from 2001:db8:ffff::10 "
                  "to ::12, Red-5 from an IPv4 to an IPv6 PA; NVGRE still arriving is relayed with "
                  "the sender's PA kept, its sender gets a REDIRECT (rate-limited), a CA without a VM "
                  "here an UNREACHABLE; REDIRECTs received are applied only from the owner PA; "
                  "Red-4 moves back; the 1 s grace runs out; a tenant's own ICMP 5/10 and 3/10 "
                  "between CAs equal to the PAs is delivered, not taken for a message.",
                  config(PA_LOCAL, PA6_LOCAL, PA_LOCAL, PA_REMOTE))

    def from_red2(dst_ca, dst_mac, seed, pa_src=PA_REMOTE, src_ca=REMOTE_CA, src_mac=RED_REMOTE_MAC, **kw):
        family6 = ":" in dst_ca
        packet = (ip6(src_ca, dst_ca, udp(40000, 5000 + seed, 24, seed)) if family6
                  else ip4(src_ca, dst_ca, udp(40000, 5000 + seed, 24, seed), ident=0xB000 + seed))
        inner = ether(dst_mac, src_mac, 0x86DD if family6 else 0x0800) + packet
        return decap_input4(RED_VSID, inner, packet, pa_src=pa_src, flow=0x40 + seed, **kw), inner

    def from_red6(dst_ca, dst_mac, seed):
        packet = ip4("10.1.1.6", dst_ca, udp(40006, 6000 + seed, 24, seed), ident=0xC000 + seed)
        inner = ether(dst_mac, red6_mac, 0x0800) + packet
        return nvgre6(PNIC_MAC, HV2_MAC, PA6_REMOTE, PA6_LOCAL, RED_VSID, inner, 0, flow=0x60 + seed), inner

    def from_red3(dst_ca, dst_mac, seed):
        packet = ip4(red3_ca, dst_ca, udp(40003, 7000 + seed, 24, seed), ident=0xD000 + seed)
        return red1_frame(dst_mac, packet, src_mac=RED3_MAC), packet

    # Version 1: Red-1, Red-4 (IPv6 PA) and Red-5 live here.
    frame, inner = from_red2(RED1_CA, RED1_MAC, 1)
    sc.send("pnic0", frame, [("red1", inner)], note="control: Red-2 -> Red-1, delivered")
    frame, _ = from_red2("10.1.1.200", RED1_MAC, 2)
    sc.send("pnic0", frame, [("pnic0", nve_message("unreachable", frame, RED_VSID))], drop="no_lookup_record",
            note="Red-2 -> 10.1.1.200 (no record): UNREACHABLE to 192.168.1.11", counts=("unreachables_sent",))
    frame, _ = from_red2("10.1.1.200", RED1_MAC, 3)
    sc.send("pnic0", frame, drop="no_lookup_record", counts=("rate_limited",),
            note="again 1 ms later: no second UNREACHABLE within 100 ms")
    frame, _ = from_red2("10.1.1.201", RED1_MAC, 4, pa_src="192.168.1.99")
    sc.send("pnic0", frame, drop="no_lookup_record",
            note="10.1.1.8 claimed from 192.168.1.99 -> 10.1.1.201: a forged source is told nothing")
    frame, _ = from_red6("10.1.1.200", RED1_MAC, 5)
    sc.send("pnic0", frame, [("pnic0", nve_message("unreachable", frame, RED_VSID))], drop="no_lookup_record",
            note="IPv6 PAs: Red-6 -> 10.1.1.200: UNREACHABLE as ICMPv6 1/1", counts=("unreachables_sent",))

    # Version 2: Red-1 (both CAs) and Red-4 moved to hv3, Red-5 to an IPv6 PA; grace 1 s.
    sc.reload(config(hv3_pa, pa6_hv3, pa6_hv3, PA_REMOTE, grace=1))
    frame, _ = from_red2(RED1_CA, RED1_MAC, 6)
    sc.send("pnic0", frame, [("pnic0", nve_message("redirect", frame, RED_VSID, target=hv3_pa, ca=RED1_CA)),
                             ("pnic0", relayed(frame, hv3_pa, hv3_mac))],
            note="Red-2 -> Red-1 (moved): REDIRECT naming 192.168.1.12, frame relayed there",
            counts=("redirects_sent", "relayed"))
    frame, _ = from_red2(RED1_CA, RED1_MAC, 7)
    sc.send("pnic0", frame, [("pnic0", relayed(frame, hv3_pa, hv3_mac))], counts=("rate_limited", "relayed"),
            note="again 1 ms later: relayed, no second REDIRECT")
    frame, _ = from_red2(RED6_LOCAL, RED1_MAC, 8, src_ca=RED6_REMOTE)
    sc.send("pnic0", frame, [("pnic0", nve_message("redirect", frame, RED_VSID, target=hv3_pa, ca=RED6_LOCAL)),
                             ("pnic0", relayed(frame, hv3_pa, hv3_mac))],
            note="IPv6 CA 2001:db8:1::7 (moved with Red-1): its own REDIRECT, relayed",
            counts=("redirects_sent", "relayed"))
    frame, _ = from_red6("10.1.1.4", red4_mac, 9)
    sc.send("pnic0", frame, [("pnic0", nve_message("redirect", frame, RED_VSID, target=pa6_hv3, ca="10.1.1.4")),
                             ("pnic0", relayed(frame, pa6_hv3, hv3_mac))],
            note="IPv6 PAs: Red-6 -> Red-4 (moved): ICMPv6 137/1 REDIRECT, relayed to ::12",
            counts=("redirects_sent", "relayed"))
    frame, _ = from_red2("10.1.1.5", red5_mac, 10)
    sc.send("pnic0", frame, drop="no_provider_route", counts=("redirects_not_carried",),
            note="Red-5 moved to an IPv6 PA: an IPv4 sender's frame cannot be relayed nor the PA named")
    frame, _ = from_red2(RED1_CA, RED1_MAC, 11, pa_src="192.168.1.99")
    sc.send("pnic0", frame, drop="pa_mismatch", note="10.1.1.8 claimed from 192.168.1.99 -> Red-1: not relayed")
    frame, _ = from_red2(RED1_CA, RED1_MAC, 12, ttl=1)
    sc.send("pnic0", frame, drop="ttl_expired", counts=("rate_limited",),
            note="outer TTL 1 -> Red-1: not relayed; its REDIRECT is due, but rate-limited")
    frame, packet = from_red3(RED1_CA, RED1_MAC, 13)
    sc.send("red3", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID, pa_dst=hv3_pa, next_hop_mac=hv3_mac))],
            note="local Red-3 -> Red-1: the policy's new PA")

    # REDIRECT / UNREACHABLE received (hv1 as a sender; trustRedirects on).
    sent, _ = from_red3("10.1.1.9", red9_mac, 14)
    to_red9 = encap_expected4(sent, sent[14:], RED_VSID)
    sc.send("pnic0", nve_message("redirect", to_red9, RED_VSID, target=hv3_pa, ca="10.1.1.9", to_mac=PNIC_MAC,
                                 from_mac=HV2_MAC, from_pa=PA_REMOTE, to_pa=PA_LOCAL),
            consumed=True, counts=("redirects_received", "redirects_applied"),
            note="REDIRECT from 192.168.1.11 (Red-9's PA): Red-9 -> 192.168.1.12, applied")
    frame, packet = from_red3("10.1.1.9", red9_mac, 15)
    sc.send("red3", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID, pa_dst=hv3_pa, next_hop_mac=hv3_mac))],
            note="Red-3 -> Red-9: to the REDIRECT's PA")
    sent, _ = from_red3(REMOTE_CA, RED_REMOTE_MAC, 16)
    to_red2 = encap_expected4(sent, sent[14:], RED_VSID)
    sc.send("pnic0", nve_message("redirect", to_red2, RED_VSID, target=hv4_pa, ca=REMOTE_CA, to_mac=PNIC_MAC,
                                 from_mac=hv3_mac, from_pa=hv3_pa, to_pa=PA_LOCAL),
            consumed=True, counts=("redirects_received", "redirects_ignored"),
            note="REDIRECT for Red-2 from 192.168.1.12, which does not own it: ignored")
    frame, packet = from_red3(REMOTE_CA, RED_REMOTE_MAC, 17)
    sc.send("red3", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID))],
            note="Red-3 -> Red-2: still to 192.168.1.11")
    sc.send("pnic0", nve_message("unreachable", to_red2, RED_VSID, to_mac=PNIC_MAC, from_mac=HV2_MAC,
                                 from_pa=PA_REMOTE, to_pa=PA_LOCAL),
            consumed=True, counts=("unreachables_received",), note="UNREACHABLE from 192.168.1.11: consumed")
    back = ip4("10.1.1.9", red3_ca, udp(5015, 40003, 24, 18), ident=0xE001)
    back_inner = ether(RED3_MAC, red9_mac, 0x0800) + back
    sc.send("pnic0", decap_input4(RED_VSID, back_inner, back, pa_src=hv3_pa, src_mac=hv3_mac, flow=0x52),
            [("red3", back_inner)], note="Red-9 -> Red-3 from 192.168.1.12: vouched for by the applied REDIRECT")
    back = ip4(REMOTE_CA, red3_ca, udp(5017, 40003, 24, 19), ident=0xE002)
    back_inner = ether(RED3_MAC, RED_REMOTE_MAC, 0x0800) + back
    sc.send("pnic0", decap_input4(RED_VSID, back_inner, back, pa_src=hv3_pa, src_mac=hv3_mac, flow=0x53),
            drop="pa_mismatch", note="Red-2 -> Red-3 from 192.168.1.12: not its PA")

    # Version 3: Red-4 moves back here, Red-9 to hv4; Red-1's move keeps its grace.
    sc.reload(config(hv3_pa, PA6_LOCAL, pa6_hv3, hv4_pa, grace=1))
    frame, inner = from_red6("10.1.1.4", red4_mac, 20)
    sc.send("pnic0", frame, [("red4", inner)], note="Red-6 -> Red-4 (moved back): delivered, no relay")
    sc.wait(0.2)
    frame, _ = from_red2(RED1_CA, RED1_MAC, 21)
    sc.send("pnic0", frame, [("pnic0", nve_message("redirect", frame, RED_VSID, target=hv3_pa, ca=RED1_CA)),
                             ("pnic0", relayed(frame, hv3_pa, hv3_mac))],
            note="200 ms later, Red-2 -> Red-1: still relayed (grace kept across versions), REDIRECT again",
            counts=("redirects_sent", "relayed"))
    frame, packet = from_red3("10.1.1.9", red9_mac, 22)
    sc.send("red3", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID, pa_dst=hv4_pa, next_hop_mac=hv4_mac))],
            note="Red-3 -> Red-9: the policy changed its record, the REDIRECT no longer applies")
    sc.wait(1.0)
    frame, _ = from_red2(RED1_CA, RED1_MAC, 23)
    sc.send("pnic0", frame, [("pnic0", nve_message("unreachable", frame, RED_VSID))], drop="no_local_port",
            note="1.2 s after the move: grace over, UNREACHABLE", counts=("unreachables_sent",))

    # 8.4: Red-7 (CA 192.168.1.11 = hv2's PA) sends Red-3 (CA 192.168.1.10 = hv1's PA) ICMP
    # shaped like hv2's messages, quoting a forged NVGRE packet of Red-3's flow to Red-2 (whose
    # PA is hv2's, so a REDIRECT from hv2 for it would be applied); hv2 carries it honestly. The
    # inner source MAC is Red-7's, not an NVE's: tenant traffic, delivered as carried.
    sent, _ = from_red3(REMOTE_CA, RED_REMOTE_MAC, 24)
    forged = offending_packet(encap_expected4(sent, sent[14:], RED_VSID))
    for seed, (icmp, what) in enumerate([(ICMP(type=5, code=10, gw=hv4_pa), "5/10 naming 192.168.1.13"),
                                         (ICMP(type=3, code=10), "3/10")], 24):
        packet = bytes(IP(src=PA_REMOTE, dst=PA_LOCAL, id=0xE100 + seed, flags=0, ttl=128) / icmp / Raw(forged))
        inner = ether(RED3_MAC, red7_mac, 0x0800) + packet
        sc.send("pnic0", decap_input4(RED_VSID, inner, packet, flow=0x40 + seed), [("red3", inner)],
                note="Red-7 (192.168.1.11) -> Red-3 (192.168.1.10): its own ICMP %s, delivered, no message" % what)
    frame, packet = from_red3(REMOTE_CA, RED_REMOTE_MAC, 26)
    sc.send("red3", frame, [("pnic0", encap_expected4(frame, packet, RED_VSID))],
            note="Red-3 -> Red-2: still to 192.168.1.11, the policy's PA")
    return sc


def red1_frame_unpadded(packet, frame):
    """The frame as sent on (1.3): Ethernet header + the IP packet, padding removed."""
    return frame[:14] + packet


SCENARIOS = [s_encap_ipv4, s_decap_ipv4, s_encap_decap_ipv6_pa, s_ipv6_ca, s_nat, s_same_host,
             s_overlapping_tenants, s_spoofed_source, s_spoofed_outer_pa, s_malformed_gre, s_mtu,
             s_arp_and_pa, s_routing, s_gateway, s_vm_malformed, s_acl, s_dhcp, s_external_gateway,
             s_flooding, s_l2only, s_migration]


def self_check(sc):
    """Independent byte-level invariants on every expected frame (no scapy parsing)."""
    for _port, _frame, out, _drop, note, _offset in sc.steps:
        for out_port, f in out:
            where = "%s: %s -> %s" % (sc.name, note, out_port)
            etype = struct.unpack("!H", f[12:14])[0]
            if etype == 0x0800:
                ihl = (f[14] & 0x0F) * 4
                assert inet_checksum(f[14:14 + ihl]) == 0, where + ": IPv4 header checksum"
                # 0x0000 and 0xFFFF are both "valid"; keep clear of that corner so a full
                # recompute and an RFC 1624 update cannot legitimately disagree.
                assert f[24:26] not in (b"\x00\x00", b"\xff\xff"), where
                assert struct.unpack("!H", f[16:18])[0] == len(f) - 14, where + ": length/padding"
                if f in RELAYED:  # section 8: the sender's outer header, TTL one less
                    assert f[23] == 47 and f[22] == OUTER_TTL - 1, where + ": relay"
                elif f[23] == 47:  # outer NVGRE over IPv4
                    assert f[18:22] == b"\x00\x00\x40\x00" and f[22] == OUTER_TTL, where
                    assert f[34:38] == b"\x20\x00\x65\x58" and f[41] == 0, where + ": GRE"
                    inner_ip = f[34 + 8 + 14:]
                    tos = inner_ip[1] if inner_ip[0] >> 4 == 4 else ipv6_tc(inner_ip)
                    assert f[15] == tos, where + ": TOS"
                if f[23] == 17 and f[34:38] == b"\x00\x43\x00\x44":  # a DHCP answer (section 5)
                    udp_len = struct.unpack("!H", f[38:40])[0]
                    pseudo = f[26:34] + struct.pack("!BBH", 0, 17, udp_len)
                    assert inet_checksum(pseudo + f[34:34 + udp_len]) == 0, where + ": UDP checksum"
                    assert udp_len - 8 >= 300 and f[42] == 2 and f[42 + 236:42 + 240] == b"c\x82Sc", where
            elif etype == 0x86DD:
                assert struct.unpack("!H", f[18:20])[0] == len(f) - 54, where + ": length/padding"
                if f in RELAYED:
                    assert f[20] == 47 and f[21] == OUTER_TTL - 1, where + ": relay"
                elif f[20] == 47:  # outer NVGRE over IPv6
                    assert f[21] == OUTER_TTL and f[15] & 0x0F == 0 and f[16:18] == b"\x00\x00"
                    assert f[54:58] == b"\x20\x00\x65\x58" and f[61] == 0, where + ": GRE"
            elif etype == 0x0806:
                assert len(f) == 42, where + ": ARP reply length"
            else:
                raise AssertionError(where + ": unexpected EtherType %04x" % etype)


def main():
    # remove every previously generated scenario folder
    for entry in sorted(os.listdir(HERE)):
        path = os.path.join(HERE, entry)
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "scenario.json")):
            shutil.rmtree(path)
    names = []
    for build in SCENARIOS:
        sc = build()
        assert sc.name not in names
        names.append(sc.name)
        self_check(sc)
        write_scenario(sc)
    print("wrote %d scenarios: %s" % (len(names), ", ".join(names)))


if __name__ == "__main__":
    main()
