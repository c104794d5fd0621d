using NvDataplane.Io;
using static NvDataplane.Tests.Io.CaptureBytes;

namespace NvDataplane.Tests.Io;

/// <summary>
/// Corrupt and truncated files, hand-written from the published layouts. Each asserts the offset of
/// the bad header, record or block and the whole message, whole buffer and trickled alike.
/// </summary>
public class CaptureReaderErrorTests
{
    // Little-endian µs pcap global header: magic, 2.4, thiszone 0, sigfigs 0, snaplen 262144, Ethernet.
    private const string PcapHeader = "D4C3B2A1 0200 0400 00000000 00000000 00000400 01000000";

    // One good record at offset 24 (16 + 4 bytes): the next record starts at 44.
    private const string GoodRecord = "5F5E1000 00000000 04000000 04000000 DEADBEEF";

    private const string ShbLittleEndian = "0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000";

    // IDB at offset 28: linktype 1, snaplen 262144. The next block starts at 48.
    private const string IdbLittleEndian = "01000000 14000000 0100 0000 00000400 14000000";

    private static void AssertError(CaptureFormatException ex, long offset, string problem)
    {
        Assert.That(ex.ByteOffset, Is.EqualTo(offset));
        Assert.That(ex.FilePath, Is.EqualTo("bad.pcap"));
        Assert.That(ex.Problem, Is.EqualTo(problem));
        Assert.That(ex.Message, Is.EqualTo($"bad.pcap: byte offset {offset}: {problem}"));
    }

    [Test]
    public void Empty_file([Values] bool trickle) =>
        AssertError(ReadExpectingError([], trickle), 0, "empty file, no capture file header");

    [Test]
    public void Bad_magic([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex("12345678 0200 0400 00000000 00000000 00000400 01000000"), trickle), 0, "unknown magic 0x12345678 (neither pcap nor pcapng)");

    [Test]
    public void Truncated_file_header([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex("D4C3B2A1 0200 0400 0000"), trickle), 0, "truncated file header (10 of 24 bytes)");

    [Test]
    public void Unsupported_pcap_version([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex("D4C3B2A1 0100 0000 00000000 00000000 00000400 01000000"), trickle), 0, "unsupported pcap version 1.0");

    [Test]
    public void Truncated_record_header([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex(PcapHeader + GoodRecord + "5F5E1000 00000000"), trickle), 44, "truncated record header (8 of 16 bytes)");

    [Test]
    public void Truncated_record_data([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex(PcapHeader + GoodRecord + "5F5E1000 00000000 08000000 08000000 010203"), trickle), 44, "truncated record data (3 of 8 bytes)");

    [Test]
    public void Garbage_record_length_is_refused_before_it_is_read([Values] bool trickle) =>
        // incl_len 4000000 = 0x003D0900, and no data behind it: the length alone is refused.
        AssertError(ReadExpectingError(Hex(PcapHeader + GoodRecord + "5F5E1000 00000000 00093D00 00093D00"), trickle), 44, "record length 4000000 exceeds the 256 KiB limit");

    [Test]
    public void Record_length_above_the_snaplen([Values] bool trickle) =>
        // snaplen 65535, incl_len 70000 = 0x00011170
        AssertError(
            ReadExpectingError(Hex("D4C3B2A1 0200 0400 00000000 00000000 FFFF0000 01000000" + GoodRecord + "5F5E1000 00000000 70110100 70110100"), trickle),
            44,
            "record length 70000 exceeds snaplen 65535");

    // A second record at 44 whose fraction is a whole second or more: 1,000,000 µs, or 10^9 ns
    // under the nanosecond magic. It used to move the frame's time by seconds.
    [Test]
    public void Microsecond_fraction_of_a_second_or_more([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex(PcapHeader + GoodRecord + "5F5E1000 40420F00 04000000 04000000 DEADBEEF"), trickle), 44, "ts_usec 1000000 is not below 1000000");

    [Test]
    public void Nanosecond_fraction_of_a_second_or_more([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex("4D3CB2A1 0200 0400 00000000 00000000 00000400 01000000" + GoodRecord + "5F5E1000 00CA9A3B 04000000 04000000 DEADBEEF"), trickle),
            44,
            "ts_nsec 1000000000 is not below 1000000000");

    [Test]
    public void Pcapng_block_total_length_mismatch([Values] bool trickle) =>
        // EPB at 48 says 36 at its head and 40 at its tail.
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 24000000 00000000 00000000 00000000 04000000 04000000 01020304 28000000"), trickle),
            48,
            "block total length mismatch: header says 36, trailer says 40");

    [Test]
    public void Pcapng_block_total_length_not_a_multiple_of_4([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 25000000 00000000 00000000 00000000 04000000 04000000 01020304 25000000"), trickle),
            48,
            "block total length 37 is invalid (must be a multiple of 4 and at least 12)");

    [Test]
    public void Pcapng_skipped_block_with_a_bad_trailer([Values] bool trickle) =>
        // A Name Resolution Block (type 4) at 48 is skipped, but its trailer is still checked.
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "04000000 10000000 00000000 14000000"), trickle),
            48,
            "block total length mismatch: header says 16, trailer says 20");

    [Test]
    public void Pcapng_garbage_block_length_is_refused_before_it_is_read([Values] bool trickle) =>
        // EPB total length 0x7FFFFFF0
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 F0FFFF7F 00000000"), trickle),
            48,
            "EPB total length 2147483632 exceeds the 320 KiB limit");

    [Test]
    public void Pcapng_captured_length_larger_than_its_block([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 24000000 00000000 00000000 00000000 40000000 40000000 01020304 24000000"), trickle),
            48,
            "EPB captured length 64 does not fit in a block of total length 36");

    [Test]
    public void Pcapng_truncated_block([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 24000000 00000000 00000000 00000000"), trickle),
            48,
            "truncated EPB (20 of 36 bytes)");

    [Test]
    public void Pcapng_truncated_skipped_block([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "04000000 40000000 00000000"), trickle),
            48,
            "truncated block (12 of 64 bytes)");

    [Test]
    public void Pcapng_epb_for_an_undefined_interface([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + IdbLittleEndian + "06000000 24000000 03000000 00000000 00000000 04000000 04000000 01020304 24000000"), trickle),
            48,
            "EPB references interface 3 but only 1 defined");

    [Test]
    public void Pcapng_interfaces_are_numbered_per_section([Values] bool trickle) =>
        // Section 1 has two interfaces; section 2 (at 68) has one, so interface 1 no longer exists there.
        AssertError(
            ReadExpectingError(
                Hex(ShbLittleEndian + IdbLittleEndian + IdbLittleEndian + ShbLittleEndian + IdbLittleEndian +
                    "06000000 24000000 01000000 00000000 00000000 04000000 04000000 01020304 24000000"),
                trickle),
            116,
            "EPB references interface 1 but only 1 defined");

    [Test]
    public void Pcapng_bad_byte_order_magic([Values] bool trickle) =>
        AssertError(ReadExpectingError(Hex("0A0D0D0A 1C000000 11223344 0100 0000 FFFFFFFFFFFFFFFF 1C000000"), trickle), 0, "bad byte-order magic 0x11223344 in section header block");

    [Test]
    public void Pcapng_idb_option_overrunning_its_block([Values] bool trickle) =>
        // if_tsresol claims 16 bytes of value in a block that has 4 left.
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + "01000000 1C000000 0100 0000 00000400 0900 1000 09000000 1C000000"), trickle),
            28,
            "interface description block option 9 length 16 overruns the block");

    // An IDB at 28 whose if_tsoffset is -1,700,000,100 s, then an EPB at 64 stamped 1,700,000,000 s
    // after it (µs ticks): 100 s before 1970, which the writers cannot store.
    [Test]
    public void Pcapng_timestamp_before_1970([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + "01000000 24000000 0100 0000 00000400 0E00 0800 9C0EAC9AFFFFFFFF 0000 0000 24000000"
                + "06000000 24000000 00000000 240A0600 00401E18 04000000 04000000 01020304 24000000"), trickle),
            64,
            "timestamp outside 1970..2262 (1700000000000000 ticks of 10^-6 s on interface 0, if_tsoffset -1700000100 s)");

    // if_tsresol 9 (ns) and the largest tick count: past 2262, more than a long of nanoseconds holds.
    [Test]
    public void Pcapng_timestamp_after_2262([Values] bool trickle) =>
        AssertError(
            ReadExpectingError(Hex(ShbLittleEndian + "01000000 20000000 0100 0000 00000400 0900 0100 09000000 0000 0000 20000000"
                + "06000000 24000000 00000000 FFFFFFFF FFFFFFFF 04000000 04000000 01020304 24000000"), trickle),
            60,
            "timestamp outside 1970..2262 (18446744073709551615 ticks of 10^-9 s on interface 0, if_tsoffset 0 s)");

    [Test]
    public async Task The_error_is_thrown_again_on_every_later_read()
    {
        await using var reader = new CaptureReader(new MemoryStream(Hex(PcapHeader + GoodRecord + "5F5E10")), "bad.pcap");
        Assert.That(await reader.ReadNextAsync(), Is.Not.Null);
        CaptureFormatException first = Assert.ThrowsAsync<CaptureFormatException>(async () => await reader.ReadNextAsync())!;
        CaptureFormatException second = Assert.ThrowsAsync<CaptureFormatException>(async () => await reader.ReadNextAsync())!;
        Assert.That(second, Is.SameAs(first));
        AssertError(first, 44, "truncated record header (3 of 16 bytes)");
    }
}
