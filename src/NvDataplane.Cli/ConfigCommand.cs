using System.CommandLine;
using NvDataplane.Cli.Control;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp config show</c>: the running daemon's policy as a configuration file (<c>GET
/// /v1/config</c>): the file it started from with every change made since through the control
/// API or etcd. Saved over the file (<c>nvdp config show &gt; FILE</c>), it keeps those changes
/// across a SIGHUP reload or a restart, as <c>ovs-vsctl</c>'s database or a saved VPP
/// configuration would.
/// </summary>
internal static class ConfigCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var daemon = new ControlVerbOptions();
        var show = new Command("show", "the running daemon's policy as a configuration file, changes since start included (save it over the file to keep them across a reload)");
        daemon.AddTo(show);
        show.SetAction(parse => daemon.Send(parse, stdout, stderr, HttpMethod.Get, ControlApi.ConfigPath, null, root => stdout.WriteLine(root.GetRawText())));
        return new Command("config", "the running daemon's configuration") { show };
    }
}
