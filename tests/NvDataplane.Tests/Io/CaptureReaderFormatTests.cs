using NvDataplane.Io;
using static NvDataplane.Tests.Io.CaptureBytes;

namespace NvDataplane.Tests.Io;

/// <summary>
/// Hand-written files, laid out field by field from the published pcap and pcapng layouts
/// (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng), never produced by our writer.
/// Every test runs twice: whole buffer, and trickled through 16-byte pipe segments.
/// </summary>
public class CaptureReaderFormatTests
{
    // Little-endian pcapng Section Header Block: type, total length 28, byte-order magic,
    // version 1.0, section length -1 (unknown), total length.
    private const string ShbLittleEndian = "0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000";

    [Test]
    public async Task Big_endian_microsecond_pcap([Values] bool trickle)
    {
        byte[] file = Hex(
            // magic     vmaj vmin thiszone sigfigs  snaplen  linktype
            "A1B2C3D4 0002 0004 00000000 00000000 0000FFFF 00000001" +
            // ts_sec=1600000000 ts_usec=999999 incl=4 orig=60, data
            "5F5E1000 000F423F 00000004 0000003C DEADBEEF" +
            // ts_sec=1700000000 ts_usec=0 incl=2 orig=2, data
            "6553F100 00000000 00000002 00000002 CAFE");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_600_000_000_999_999_000L));
        Assert.That(frames[0].Data, Is.EqualTo(Hex("DEADBEEF")));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(60));
        Assert.That(frames[0].LinkType, Is.EqualTo((ushort)1));
        Assert.That(frames[1].TimestampNs, Is.EqualTo(1_700_000_000_000_000_000L));
        Assert.That(frames[1].Data, Is.EqualTo(Hex("CAFE")));
    }

    [Test]
    public async Task Little_endian_nanosecond_pcap([Values] bool trickle)
    {
        byte[] file = Hex(
            // magic a1b23c4d little-endian, 2.4, snaplen 65535, linktype 1
            "4D3CB2A1 0200 0400 00000000 00000000 FFFF0000 01000000" +
            // ts_sec=1700000000 ts_nsec=123456789 incl=3 orig=3, data
            "00F15365 15CD5B07 03000000 03000000 010203");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_700_000_000_123_456_789L));
        Assert.That(frames[0].Data, Is.EqualTo(Hex("010203")));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(3));
    }

    [Test]
    public async Task Big_endian_nanosecond_pcap_with_a_non_ethernet_link_type([Values] bool trickle)
    {
        byte[] file = Hex(
            // magic a1b23c4d big-endian, 2.4, snaplen 262144, linktype 228 (raw IPv4)
            "A1B23C4D 0002 0004 00000000 00000000 00040000 000000E4" +
            "6553F100 075BCD15 00000001 00000001 45");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames.Single().TimestampNs, Is.EqualTo(1_700_000_000_123_456_789L));
        Assert.That(frames.Single().LinkType, Is.EqualTo((ushort)228));
    }

    [Test]
    public async Task Pcapng_with_two_interfaces_and_if_tsresol_9([Values] bool trickle)
    {
        byte[] file = Hex(
            ShbLittleEndian +
            // IDB (offset 28): linktype 1, reserved, snaplen 262144, no options
            "01000000 14000000 0100 0000 00000400 14000000" +
            // IDB (offset 48): linktype 228, snaplen 0, if_tsresol(9) len 1 value 9 + pad, opt_endofopt
            "01000000 20000000 E400 0000 00000000 0900 0100 09000000 0000 0000 20000000" +
            // Name Resolution Block (type 4, offset 80): not read, skipped
            "04000000 10000000 00000000 10000000" +
            // EPB (offset 96) on interface 1: ts 1600000000123456789 ns = 0x16345785_DFFBCD15, cap 5 orig 5, data + 3 pad
            "06000000 28000000 01000000 85573416 15CDFBDF 05000000 05000000 4500001400 000000 28000000" +
            // EPB (offset 136) on interface 0: ts 1600000000123456 µs = 0x0005AF31_07A5E240, cap 4 orig 60
            "06000000 24000000 00000000 31AF0500 40E2A507 04000000 3C000000 AABBCCDD 24000000");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_600_000_000_123_456_789L));
        Assert.That(frames[0].Data, Is.EqualTo(Hex("4500001400")));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(5));
        Assert.That(frames[0].LinkType, Is.EqualTo((ushort)228));
        Assert.That(frames[1].TimestampNs, Is.EqualTo(1_600_000_000_123_456_000L));
        Assert.That(frames[1].Data, Is.EqualTo(Hex("AABBCCDD")));
        Assert.That(frames[1].OriginalLength, Is.EqualTo(60));
        Assert.That(frames[1].LinkType, Is.EqualTo((ushort)1));
    }

    [Test]
    public async Task Pcapng_big_endian_section_after_a_little_endian_one([Values] bool trickle)
    {
        byte[] file = Hex(
            ShbLittleEndian +
            "01000000 14000000 0100 0000 00000400 14000000" +
            "06000000 24000000 00000000 31AF0500 40E2A507 04000000 04000000 01020304 24000000" +
            // Second section, big-endian: SHB, IDB with linktype 1 and if_tsresol 2^-10, EPB with ts 1024 ticks = 1 s
            "0A0D0D0A 0000001C 1A2B3C4D 0001 0000 FFFFFFFFFFFFFFFF 0000001C" +
            "00000001 00000020 0001 0000 00000000 0009 0001 8A000000 0000 0000 00000020" +
            "00000006 00000024 00000000 00000000 00000400 00000002 00000002 0A0B0000 00000024");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].Data, Is.EqualTo(Hex("01020304")));
        Assert.That(frames[1].TimestampNs, Is.EqualTo(1_000_000_000L));
        Assert.That(frames[1].Data, Is.EqualTo(Hex("0A0B")));
        Assert.That(frames[1].OriginalLength, Is.EqualTo(2));
    }

    [Test]
    public async Task Pcapng_simple_packet_blocks_are_cut_at_the_interface_snaplen([Values] bool trickle)
    {
        string sixtyFourBytes = string.Concat(Enumerable.Repeat("AB", 64));
        byte[] file = Hex(
            ShbLittleEndian +
            // IDB: linktype 1, snaplen 64
            "01000000 14000000 0100 0000 40000000 14000000" +
            // SPB: original length 6, 6 bytes + 2 pad
            "03000000 18000000 06000000 010203040506 0000 18000000" +
            // SPB: original length 100, captured min(100, snaplen 64) = 64 bytes
            "03000000 50000000 64000000 " + sixtyFourBytes + " 50000000");

        List<CapturedFrame> frames = await ReadAllAsync(file, trickle);

        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].Data, Is.EqualTo(Hex("010203040506")));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(6));
        Assert.That(frames[0].TimestampNs, Is.Zero, "an SPB carries no timestamp");
        Assert.That(frames[0].LinkType, Is.EqualTo((ushort)1));
        Assert.That(frames[1].Data, Is.EqualTo(Hex(sixtyFourBytes)));
        Assert.That(frames[1].OriginalLength, Is.EqualTo(100));
    }

    [Test]
    public async Task A_file_that_ends_at_a_record_boundary_ends_cleanly([Values] bool trickle)
    {
        Assert.That(await ReadAllAsync(Hex("D4C3B2A1 0200 0400 00000000 00000000 00000400 01000000"), trickle), Is.Empty);
        Assert.That(await ReadAllAsync(Hex(ShbLittleEndian), trickle), Is.Empty);
    }

    [Test]
    public async Task After_the_end_every_read_returns_null()
    {
        await using var reader = new CaptureReader(new MemoryStream(Hex(ShbLittleEndian)), "x.pcapng");
        Assert.That(await reader.ReadNextAsync(), Is.Null);
        Assert.That(await reader.ReadNextAsync(), Is.Null);
    }
}
