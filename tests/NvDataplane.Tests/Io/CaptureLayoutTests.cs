using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

/// <summary>The named offsets add up to the header sizes of the published layouts.</summary>
public class CaptureLayoutTests
{
    [Test]
    public void Pcap_header_sizes()
    {
        Assert.That(PcapLayout.GlobalHeaderSize, Is.EqualTo(24));
        Assert.That(PcapLayout.LinkTypeOffset + sizeof(uint), Is.EqualTo(PcapLayout.GlobalHeaderSize));
        Assert.That(PcapLayout.RecordHeaderSize, Is.EqualTo(16));
        Assert.That(PcapLayout.OrigLenOffset + sizeof(uint), Is.EqualTo(PcapLayout.RecordHeaderSize));
        Assert.That(PcapLayout.MaxFrameSize, Is.EqualTo(262_144));
    }

    [Test]
    public void Pcapng_block_sizes()
    {
        Assert.That(PcapNgLayout.ShbSectionLengthOffset + sizeof(long) + PcapNgLayout.BlockTrailerSize, Is.EqualTo(PcapNgLayout.ShbMinSize));
        Assert.That(PcapNgLayout.IdbOptionsOffset + PcapNgLayout.BlockTrailerSize, Is.EqualTo(PcapNgLayout.IdbMinSize));
        Assert.That(PcapNgLayout.EpbDataOffset + PcapNgLayout.BlockTrailerSize, Is.EqualTo(PcapNgLayout.EpbMinSize));
        Assert.That(PcapNgLayout.SpbDataOffset + PcapNgLayout.BlockTrailerSize, Is.EqualTo(PcapNgLayout.SpbMinSize));
        Assert.That(PcapNgLayout.Pad4(5), Is.EqualTo(8));
        Assert.That(PcapNgLayout.Pad4(8), Is.EqualTo(8));
    }
}
