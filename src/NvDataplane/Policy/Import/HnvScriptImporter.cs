using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy.Import;

/// <summary>
/// Turns the New-NetVirtualizationLookupRecord, -CustomerRoute, -ProviderAddress and
/// -ProviderRoute commands of a Windows provisioning script into the configuration file of SPEC
/// section 2, for the host the script runs on. The script is read, never run: a value that is a
/// variable or an expression cannot be imported and is reported with its line, as are unknown
/// and ambiguous parameters (PowerShell's rules: names ignore case, an unambiguous prefix will
/// do), unknown Net-Virtualization cmdlets and the module's other cmdlets (Get-, Set-, Remove-).
/// A command with any such problem is left out whole, as Windows would refuse it whole; every
/// other command is imported, and every problem of the script is reported in one pass.
/// </summary>
/// <remarks>
/// <para>Values are checked by <see cref="ConfigLoader"/> itself: the importer writes what the
/// script says into a configuration document, loads it, and leaves out each command a problem
/// points at (reported with the command's line and parameter), until the document loads clean.
/// So the result always passes <c>nvdp validate</c>, and a value is judged by the same rules
/// whether it comes from a script or from a file.</para>
/// <para>Ports (the script has none): each <c>-InterfaceIndex N</c> of a provider address becomes
/// the provider port <c>pnicN</c>, with the address's <c>-MACAddress</c> or else a made-up,
/// locally administered MAC (noted). A lookup record whose provider address is one of the
/// script's provider addresses is a VM on this host: it gets a vm port, one per MAC, named after
/// <c>-VMName</c> (or <c>vm-</c> and the MAC), in the record's virtual subnet. No port gets a
/// device: <c>nvdp replay</c> needs none, <c>nvdp run</c> says which to set.</para>
/// </remarks>
public static class HnvScriptImporter
{
    /// <param name="script">The script's text.</param>
    /// <param name="hostName">The configuration's host name (the CLI takes the script's file name).</param>
    public static HnvImportResult Import(string script, string hostName)
    {
        var read = PowerShellScriptReader.Read(script);
        var run = new Run();
        run.Problems.AddRange(read.Problems);
        var entries = run.Classify(read.Commands);
        var config = new HnvImportDraft(string.IsNullOrWhiteSpace(hostName) ? "host" : hostName, entries, run.Problems, run.Notes).Load();
        return new HnvImportResult(config, Sorted(run.Problems), Sorted(run.Notes), [.. run.Skipped.Values.OrderBy(s => s.FirstLine)]);
    }

    private static List<ImportMessage> Sorted(List<ImportMessage> messages) =>
        [.. messages.Distinct().OrderBy(m => m.Line)];

    /// <summary>The state of one import: what was said so far, and the skipped commands by name.</summary>
    private sealed class Run
    {
        public List<ImportMessage> Problems { get; } = [];

        public List<ImportMessage> Notes { get; } = [];

        public Dictionary<string, SkippedCommand> Skipped { get; } = new(StringComparer.OrdinalIgnoreCase);

        public List<HnvImportEntry> Classify(IReadOnlyList<ScriptCommand> commands)
        {
            var entries = new List<HnvImportEntry>();
            // Commands come in source order: the first New- one is where the script starts to build.
            int firstNew = commands.ToList().FindIndex(c => HnvCmdlets.FindImported(BareName(c.Name)) is not null);
            ScriptCommand? entered = null;
            for (int i = 0; i < commands.Count; i++)
            {
                var command = commands[i];
                string name = BareName(command.Name);
                entered = RemoteCommands.IsEnter(name) ? command : RemoteCommands.IsExit(name) ? null : entered;
                if (command.After is { } end)
                {
                    // Windows never runs it; only what would have changed the policy is worth saying.
                    if (HnvCmdlets.FindImported(name) is { } lost)
                    {
                        Problems.Add(new ImportMessage(command.Line, $"{lost.Name} not imported: it comes after the {end.Keyword} of line {end.Line}, where the script ends, so it never runs"));
                    }
                }
                else if (HnvCmdlets.FindImported(name) is { } cmdlet)
                {
                    if (OtherComputer(command, entered) is { } why)
                    {
                        Problems.Add(new ImportMessage(command.Line, $"{cmdlet.Name} not imported: {why}; import each computer's own script"));
                    }
                    else if (Bind(command, cmdlet) is { } entry)
                    {
                        entries.Add(entry);
                        if (command.Within is { } block)
                        {
                            Notes.Add(new ImportMessage(command.Line, $"{cmdlet.Name} sits in the {block.Name} block of line {block.Line}; it is imported as if it runs, once"));
                        }
                    }
                }
                else if (HnvCmdlets.FindInModule(name) is { } other)
                {
                    OtherModuleCmdlet(command, other, beforeFirstNew: firstNew < 0 || i < firstNew);
                }
                else if (ConfigValueText.Nearest(name, HnvCmdlets.ModuleCmdlets) is var near && (near is not null || name.Contains("NetVirtualization", StringComparison.OrdinalIgnoreCase)))
                {
                    Problems.Add(new ImportMessage(command.Line, $"{name} not imported: the NetWNV module has no such cmdlet{(near is null ? string.Empty : $"; did you mean {near}?")}"));
                }
                else
                {
                    Skipped[name] = Skipped.TryGetValue(name, out var seen) ? seen with { Count = seen.Count + 1 } : new SkippedCommand(name, 1, command.Line);
                }
            }

            if (firstNew < 0)
            {
                Problems.Add(new ImportMessage(0, $"no {HnvCmdlets.LookupRecord}, {HnvCmdlets.CustomerRoute}, {HnvCmdlets.ProviderAddress} or {HnvCmdlets.ProviderRoute} command found; nothing to import"));
            }

            return entries;
        }

        /// <summary>Why the command runs on another computer, as -CimSession would; null when it runs on this one.</summary>
        private static string? OtherComputer(ScriptCommand command, ScriptCommand? entered)
        {
            foreach (var outer in command.Enclosing)
            {
                if (RemoteCommands.IsInvoke(BareName(outer.Name)) && RemoteCommands.Elsewhere(outer) is { } where)
                {
                    return $"it sits in the script block of {outer.Name} {where} (line {outer.Line}), which runs it on another computer";
                }
            }

            return entered is null ? null : $"it follows the {entered.Name} of line {entered.Line}, so it is meant for another computer";
        }

        /// <summary><c>NetWNV\New-...</c> names the module too.</summary>
        private static string BareName(string name) => name[(name.LastIndexOf('\\') + 1)..];

        /// <summary>Reads leave the policy alone; a Remove- before anything is created clears what the file replaces anyway; other changes are lost.</summary>
        private void OtherModuleCmdlet(ScriptCommand command, string name, bool beforeFirstNew)
        {
            string verb = name[..name.IndexOf('-', StringComparison.Ordinal)];
            if (verb is "Get" or "Select")
            {
                Notes.Add(new ImportMessage(command.Line, $"{name} reads the policy; nothing to import"));
            }
            else if (verb == "Remove" && beforeFirstNew)
            {
                Notes.Add(new ImportMessage(command.Line, $"{name} clears the policy before the script builds it; the configuration file replaces the whole policy anyway"));
            }
            else if (name == "Set-NetVirtualizationGlobal")
            {
                Problems.Add(new ImportMessage(command.Line, $"{name} not imported: set \"global\" (useExternalRouter) in the configuration file instead"));
            }
            else
            {
                string instead = verb == "Remove" ? "take the removed entries out of the script instead" : "put the changed value on the New- command instead";
                Problems.Add(new ImportMessage(command.Line, $"{name} not imported: only the New-NetVirtualization* commands are; {instead}"));
            }
        }

        /// <summary>Binds the arguments as PowerShell would; null (problems reported) when the command cannot be imported whole.</summary>
        private HnvImportEntry? Bind(ScriptCommand command, HnvCmdlet cmdlet)
        {
            var problems = new List<ImportMessage>();
            void Fail(int line, string message) => problems.Add(new ImportMessage(line, $"{cmdlet.Name} not imported: {message}"));

            var bound = new List<(HnvParameter Parameter, ScriptArgument Value)>();
            var unsure = new HashSet<HnvParameter>();
            bool splatted = false;
            var args = command.Arguments;
            for (int i = 0; i < args.Count; i++)
            {
                var arg = args[i];
                bool hasValue = i + 1 < args.Count && (arg.Kind == ScriptArgumentKind.ParameterWithValue || !args[i + 1].IsParameter);
                if (arg.Kind == ScriptArgumentKind.Splat)
                {
                    splatted = true;
                    Fail(arg.Line, $"{arg.Text} passes parameters from a hashtable, and the script is read, not run; write the parameters out");
                }
                else if (!arg.IsParameter)
                {
                    Fail(arg.Line, $"{Shown(arg)} belongs to no parameter; {cmdlet.Name} takes named parameters only (-Name value)");
                }
                else if (cmdlet.Resolve(arg.Text, out var candidates) is not { } parameter)
                {
                    unsure.UnionWith(candidates);
                    Fail(arg.Line, candidates.Count > 1
                        ? $"-{arg.Text} is ambiguous: it could be {string.Join(", ", candidates.Select(c => "-" + c.Name))}; write more of the name"
                        : UnknownParameter(cmdlet, arg.Text));
                    i += hasValue ? 1 : 0;
                }
                else if (parameter.Type == HnvValueType.Switch && arg.Kind == ScriptArgumentKind.Parameter)
                {
                    bound.Add((parameter, arg));
                }
                else if (!hasValue)
                {
                    unsure.Add(parameter);
                    Fail(arg.Line, $"-{parameter.Name} has no value; give one after it");
                }
                else if (bound.FindIndex(b => b.Parameter == parameter) is int earlier and >= 0)
                {
                    Fail(arg.Line, $"-{parameter.Name} is given twice (first on line {bound[earlier].Value.Line}); give it once");
                    i++;
                }
                else
                {
                    bound.Add((parameter, args[++i]));
                }
            }

            // A parameter without its value, or one an ambiguous name or a splat may have meant, is not reported missing as well.
            foreach (var missing in cmdlet.Parameters.Where(p => p.Required && !splatted && !unsure.Contains(p) && !bound.Any(b => b.Parameter == p)))
            {
                Fail(command.Line, $"-{missing.Name} is missing; {cmdlet.Name} requires it");
            }

            var entry = new HnvImportEntry(cmdlet, command);
            foreach (var (parameter, value) in bound)
            {
                if (parameter.Type == HnvValueType.OtherComputer)
                {
                    Fail(value.Line, $"-{parameter.Name} {Shown(value)} runs the command on another computer; import each computer's own script");
                }
                else if (!parameter.IsCommon)
                {
                    if (Convert(parameter, value, out object? converted) is { } why)
                    {
                        Fail(value.Line, $"-{parameter.Name} {why}");
                    }
                    else
                    {
                        entry.Set(parameter, value, converted!);
                    }
                }
            }

            if (entry.UseVmMacAddress is { } refused && !IsNatRule(entry.Text("rule")))
            {
                Fail(refused.Line, "-UseVmMACAddress $true is valid only with -Rule TranslationMethodNat; Windows refuses the command");
            }

            Problems.AddRange(problems);
            if (problems.Count != 0)
            {
                return null;
            }

            if (cmdlet.Name == HnvCmdlets.LookupRecord && entry.Text("type") is null
                && IpAddr.TryParse(entry.Text("customerAddress"), out var address) && address.IsUnspecified
                && entry.Sources.TryGetValue("customerAddress", out var ca))
            {
                // WS2012 has no -Type: its gateway VM's wildcard record is a record for 0.0.0.0 / ::
                // (HNV-NOTES section 5), which 2012 R2 writes -Type GatewayWildcard. The address is
                // compared, not its text: 0::0 and 0:0:0:0:0:0:0:0 are :: too.
                entry.Set(cmdlet.Parameters.Single(p => p.Name == "Type"), ca.Argument, "GatewayWildcard");
                Notes.Add(new ImportMessage(ca.Argument.Line, $"{cmdlet.Name} -CustomerAddress {ca.Argument.Text} without -Type: WS2012's gateway wildcard record, imported as \"type\": \"GatewayWildcard\""));
            }

            if (entry.UseVmMacAddress is { } useVmMac)
            {
                Problems.Add(new ImportMessage(useVmMac.Line, $"{cmdlet.Name}: -UseVmMACAddress $true is not imported (the record is): NvDataplane sends rewritten frames from the provider port's MAC"));
            }

            return entry;
        }

        private static bool IsNatRule(string? rule) =>
            string.Equals(rule, "TranslationMethodNat", StringComparison.OrdinalIgnoreCase) || string.Equals(rule, "Nat", StringComparison.OrdinalIgnoreCase);

        private static string UnknownParameter(HnvCmdlet cmdlet, string written)
        {
            var own = cmdlet.Parameters.Where(p => !p.IsCommon).Select(p => p.Name).ToList();
            string? near = ConfigValueText.Nearest(written, own);
            string hint = near is null ? string.Empty : $"did you mean -{near}? ";
            return $"-{written} is not a parameter of {cmdlet.Name}; {hint}its parameters are {string.Join(", ", own.Select(p => "-" + p))}";
        }

        /// <summary>The value PowerShell would bind (a string, uint or bool); the reason when there is none.</summary>
        private static string? Convert(HnvParameter parameter, ScriptArgument value, out object? converted)
        {
            converted = null;
            switch (value.Kind)
            {
                case ScriptArgumentKind.Variable:
                    return $"{value.Text} is a variable, and the script is read, not run; write the value itself";
                case ScriptArgumentKind.Expression or ScriptArgumentKind.Splat or ScriptArgumentKind.Parameter or ScriptArgumentKind.ParameterWithValue:
                    return $"{value.Text} is an expression, and the script is read, not run; write the value itself";
                case ScriptArgumentKind.ScriptBlock when parameter.Type != HnvValueType.String:
                    return $"{{{value.Text}}} is a script block; write the value itself";
                default:
                    break;
            }

            string text = value.Text;
            switch (parameter.Type)
            {
                case HnvValueType.UInt32:
                    return Number(text, uint.MaxValue, out converted);
                case HnvValueType.UInt16:
                    return Number(text, ushort.MaxValue, out converted);
                case HnvValueType.Byte:
                    return Number(text, byte.MaxValue, out converted);
                case HnvValueType.Boolean:
                    converted = text is "True" or "1" ? true : text is "False" or "0" ? false : null;
                    return converted is null ? $"{Quoted(text)} is not a Boolean; use $true or $false" : null;
                case HnvValueType.Rule when TryChoice(text, ["TranslationMethodEncap", "TranslationMethodNat"], out converted):
                    return null;
                case HnvValueType.Rule:
                    return text.Equals("TranslationMethodNone", StringComparison.OrdinalIgnoreCase)
                        ? "TranslationMethodNone (no virtualization) has no NvDataplane equivalent; use TranslationMethodEncap or TranslationMethodNat"
                        : $"{Quoted(text)} is not a rule; use TranslationMethodEncap or TranslationMethodNat";
                case HnvValueType.RecordType when TryChoice(text, Enum.GetNames<RecordType>(), out converted):
                    return null;
                case HnvValueType.RecordType:
                    return $"{Quoted(text)} is not a record type; use Static, Dynamic, L2Only or GatewayWildcard";
                default:
                    converted = text;
                    return null;
            }
        }

        /// <summary>PowerShell's conversion of a word to an unsigned number: decimal or 0x hexadecimal, spaces around allowed.</summary>
        private static string? Number(string text, uint max, out object? converted)
        {
            converted = null;
            string t = text.Trim();
            bool hex = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!ulong.TryParse(hex ? t[2..] : t.TrimStart('+'), hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n > max)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{Quoted(text)} is not a whole number 0..{max}");
            }

            converted = (uint)n;
            return null;
        }

        /// <summary>The enum name <paramref name="text"/> spells (ignoring case), in its own spelling.</summary>
        private static bool TryChoice(string text, string[] names, out object? converted)
        {
            converted = names.FirstOrDefault(n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
            return converted is not null;
        }

        private static string Quoted(string text) => ConfigValueText.Quote(text);

        private static string Shown(ScriptArgument value) =>
            value.Kind is ScriptArgumentKind.Literal ? Quoted(value.Text) : value.Kind == ScriptArgumentKind.ScriptBlock ? $"{{{value.Text}}}" : value.Text;
    }
}
