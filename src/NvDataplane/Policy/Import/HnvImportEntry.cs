using System.Text.Json.Nodes;

namespace NvDataplane.Policy.Import;

/// <summary>Where a configuration value came from: the command, the parameter and the argument.</summary>
internal readonly record struct HnvSource(HnvImportEntry Entry, string Parameter, ScriptArgument Argument);

/// <summary>
/// One New- command bound without a problem: the configuration fields it gives (strings,
/// numbers and booleans as the script wrote them, checked later by ConfigLoader), where each came
/// from, and what the importer places itself: the provider port of an interface index and its
/// MAC, the -UseVmMACAddress the configuration has no field for.
/// </summary>
internal sealed class HnvImportEntry(HnvCmdlet cmdlet, ScriptCommand command)
{
    /// <summary>The source key of a provider address's <c>-InterfaceIndex</c>, which names its port.</summary>
    public const string PortSource = "port";

    /// <summary>The source key of a provider address's <c>-MACAddress</c>, its port's MAC.</summary>
    public const string PortMacSource = "port.macAddress";

    private readonly Dictionary<string, object> _fields = new(StringComparer.Ordinal);

    public HnvCmdlet Cmdlet => cmdlet;

    public ScriptCommand Command => command;

    public Dictionary<string, HnvSource> Sources { get; } = new(StringComparer.Ordinal);

    public uint InterfaceIndex { get; private set; }

    /// <summary>A provider address's <c>-MACAddress</c>, as written.</summary>
    public string? PortMac { get; private set; }

    /// <summary>The argument of <c>-UseVmMACAddress $true</c>, which is not imported.</summary>
    public ScriptArgument? UseVmMacAddress { get; private set; }

    /// <summary>Left out of the configuration because a problem points at it.</summary>
    public bool Dropped { get; set; }

    /// <param name="value">A string, uint or bool, as <see cref="HnvValueType"/> converts.</param>
    public void Set(HnvParameter parameter, ScriptArgument argument, object value)
    {
        if (parameter.Field is { } field)
        {
            _fields[field] = value;
            Sources[field] = new HnvSource(this, parameter.Name, argument);
            return;
        }

        switch (parameter.Name)
        {
            case "InterfaceIndex":
                InterfaceIndex = (uint)value;
                Sources[PortSource] = new HnvSource(this, parameter.Name, argument);
                break;
            case "MACAddress":
                PortMac = (string)value;
                Sources[PortMacSource] = new HnvSource(this, parameter.Name, argument);
                break;
            case "UseVmMACAddress" when (bool)value:
                UseVmMacAddress = argument;
                break;
            default:
                break;
        }
    }

    public string? Text(string field) => _fields.GetValueOrDefault(field) as string;

    public uint? Number(string field) => _fields.GetValueOrDefault(field) as uint?;

    /// <summary>The entry as a configuration object; a new one each time, as a node has one parent.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject();
        foreach (var (field, value) in _fields)
        {
            json[field] = value switch
            {
                string text => JsonValue.Create(text),
                uint number => JsonValue.Create(number),
                _ => JsonValue.Create((bool)value),
            };
        }

        return json;
    }
}
