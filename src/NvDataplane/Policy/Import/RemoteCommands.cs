namespace NvDataplane.Policy.Import;

/// <summary>
/// Where PowerShell remoting sends a script's commands. A script is imported as the policy of the
/// host it runs on, so a command in the script block of an <c>Invoke-Command</c> given another
/// computer, a session, a VM, a container or a URI is another computer's policy, and so is one
/// that follows an <c>Enter-PSSession</c> (up to <c>Exit-PSSession</c>): the script means it for
/// the computer it enters.
/// </summary>
internal static class RemoteCommands
{
    /// <summary>Invoke-Command, by name or alias (a module-qualified name without its module).</summary>
    public static bool IsInvoke(string name) => Is(name, "Invoke-Command", "icm");

    public static bool IsEnter(string name) => Is(name, "Enter-PSSession", "etsn");

    public static bool IsExit(string name) => Is(name, "Exit-PSSession", "exsn");

    private static bool Is(string name, string cmdlet, string alias) =>
        name.Equals(cmdlet, StringComparison.OrdinalIgnoreCase) || name.Equals(alias, StringComparison.OrdinalIgnoreCase);

    /// <summary>The parameters of Invoke-Command that send the block elsewhere, and their aliases.</summary>
    private static readonly string[] Remote =
        ["ComputerName", "Cn", "Session", "ConnectionUri", "URI", "CU", "VMId", "VMGuid", "VMName", "ContainerId", "HostName", "SSHConnection"];

    /// <summary>The parameters of Invoke-Command that name a computer, which may be this one.</summary>
    private static readonly string[] Computer = ["ComputerName", "Cn"];

    /// <summary>Invoke-Command's switches: they take no value, so a word after one is positional.</summary>
    private static readonly string[] Switches =
        ["AsJob", "HideComputerName", "InDisconnectedSession", "EnableNetworkAccess", "UseSSL", "NoNewScope", "RemoteDebug", "RunAsAdministrator", "SSHTransport", "AllowRedirection"];

    /// <summary>This computer, as scripts name it.</summary>
    private static readonly string[] ThisComputer = ["localhost", ".", "127.0.0.1", "::1", "$env:COMPUTERNAME"];

    /// <summary>
    /// How an Invoke-Command names the other computer it runs its script block on, as the script
    /// wrote it (<c>-ComputerName "HOST2"</c>); null when it runs the block here.
    /// </summary>
    public static string? Elsewhere(ScriptCommand invoke)
    {
        var args = invoke.Arguments;
        for (int i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.IsParameter)
            {
                // -ComputerName and -Session are positional: Invoke-Command HOST2 { ... }.
                if (arg.Kind != ScriptArgumentKind.ScriptBlock && !IsThisComputer(arg))
                {
                    return Shown(arg);
                }

                continue;
            }

            bool takesValue = arg.Kind == ScriptArgumentKind.ParameterWithValue || !Switches.Any(s => Names(arg.Text, s));
            ScriptArgument? value = takesValue && i + 1 < args.Count && (arg.Kind == ScriptArgumentKind.ParameterWithValue || !args[i + 1].IsParameter)
                ? args[++i]
                : null;
            if (Remote.Any(r => Names(arg.Text, r)) && !(Computer.Any(c => Names(arg.Text, c)) && value is { } computer && IsThisComputer(computer)))
            {
                return value is { } v ? $"-{arg.Text} {Shown(v)}" : $"-{arg.Text}";
            }
        }

        return null;
    }

    /// <summary>PowerShell's rule: the whole name or any prefix of it (an ambiguous prefix fails the command, which runs nothing here either).</summary>
    private static bool Names(string written, string parameter) => parameter.StartsWith(written, StringComparison.OrdinalIgnoreCase);

    private static bool IsThisComputer(ScriptArgument value) =>
        value.Kind is ScriptArgumentKind.Literal or ScriptArgumentKind.Variable && ThisComputer.Contains(value.Text, StringComparer.OrdinalIgnoreCase);

    private static string Shown(ScriptArgument value) =>
        value.Kind == ScriptArgumentKind.Literal ? ConfigValueText.Quote(value.Text) : value.Kind == ScriptArgumentKind.ScriptBlock ? $"{{{value.Text}}}" : value.Text;
}
