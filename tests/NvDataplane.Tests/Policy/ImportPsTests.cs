using System.Text.Json;
using NvDataplane.Tests.Cli;
using NvDataplane.Headers;
using NvDataplane.Policy;
using NvDataplane.Policy.Import;

namespace NvDataplane.Tests.Policy;

/// <summary>
/// Scripts of the shape of Microsoft's HNV demo (tenants Red and Blue on two hosts, the same
/// customer addresses in both), the configuration they give, written out by hand, and every
/// problem with its line.
/// </summary>
internal static class ImportPsScripts
{
    /// <summary>HOST1's script: Blue's records come from a loop over variables, so they cannot be imported.</summary>
    public const string Host1 = """
        <#
            Hyper-V Network Virtualization demo: tenants Red and Blue on two hosts.
            This part runs on HOST1 (provider address 192.168.4.11); HOST2 runs the
            same records and routes with its own provider address.
        #>
        # Start from an empty policy
        Get-NetVirtualizationLookupRecord | Remove-NetVirtualizationLookupRecord
        Get-NetVirtualizationCustomerRoute | Remove-NetVirtualizationCustomerRoute

        $WnvNic = Get-NetAdapter -Name "Ethernet 2"
        Enable-NetAdapterBinding -Name $WnvNic.Name -ComponentID "ms_netwnv"
        Write-Host "Configuring HNV policy on $env:COMPUTERNAME" -ForegroundColor Cyan

        # This host's provider address and the way out of its subnet
        New-NetVirtualizationProviderAddress -InterfaceIndex 12 -ProviderAddress "192.168.4.11" -PrefixLength 24 -MACAddress "00-1D-D8-B7-1C-0A"
        New-NetVirtualizationProviderRoute -InterfaceIndex 12 -DestinationPrefix "0.0.0.0/0" -NextHop "192.168.4.1" -Metric 5

        # Red tenant: VSID 5001, one VM here, one on HOST2 (192.168.4.22)
        New-NetVirtualizationLookupRecord -CustomerAddress "10.0.0.5" -VirtualSubnetID "5001" `
            -MACAddress "101010101105" -ProviderAddress "192.168.4.11" `
            -Rule "TranslationMethodEncap" -VMName "Red VM1"
        New-NetVirtualizationLookupRecord -CustomerAddress 10.0.0.7 -VirtualSubnetID 5001 -MACAddress 101010101107 -ProviderAddress 192.168.4.22 -Rule TranslationMethodEncap -VMName 'Red VM2'
        New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 `
            -DestinationPrefix "10.0.0.0/24" -NextHop "0.0.0.0" -Metric 255

        # Blue tenant: VSID 6001, the same customer addresses
        $BlueRdid = "{22222222-2222-3333-4444-000000000000}"
        $BlueVms = @(
            @{ Name = "Blue VM1"; IP = "10.0.0.5"; MAC = "101010101108"; PA = "192.168.4.11" },
            @{ Name = "Blue VM2"; IP = "10.0.0.7"; MAC = "101010101109"; PA = "192.168.4.22" }
        )
        foreach ($vm in $BlueVms) {
            New-NetVirtualizationLookupRecord -CustomerAddress $vm.IP -VirtualSubnetID 6001 -MACAddress $vm.MAC `
                -ProviderAddress $vm.PA -Rule "TranslationMethodEncap" -VMName $vm.Name
        }
        New-NetVirtualizationCustomerRoute -RoutingDomainID $BlueRdid -VirtualSubnetID 6001 -DestinationPrefix "10.0.0.0/24" -NextHop "0.0.0.0" -Metric 255

        Set-VMNetworkAdapter -VMName "Red VM1" -VirtualSubnetID 5001; Set-VMNetworkAdapter -VMName "Blue VM1" -VirtualSubnetID 6001
        Write-Host "HNV policy for HOST1 done"
        """;

    public const string Host1Config = """
        {
          "host": { "name": "hv1" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FF", "outerTtl": 64, "useExternalRouter": false, "dhcpLeaseSeconds": 86400, "migrationGraceSeconds": 30, "trustRedirects": false },
          "ports": [
            { "name": "pnic12", "role": "provider", "macAddress": "00-1D-D8-B7-1C-0A", "mtu": 1500 },
            { "name": "Red-VM1", "role": "vm", "macAddress": "10-10-10-10-11-05", "mtu": 1500, "virtualSubnetId": 5001, "vmName": "Red VM1" }
          ],
          "providerAddresses": [
            { "address": "192.168.4.11", "prefixLength": 24, "vlanId": 0, "port": "pnic12" }
          ],
          "providerRoutes": [
            { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.4.1", "metric": 5 }
          ],
          "providerNeighbors": [],
          "lookupRecords": [
            { "customerAddress": "10.0.0.5", "virtualSubnetId": 5001, "macAddress": "10-10-10-10-11-05", "providerAddress": "192.168.4.11", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red VM1" },
            { "customerAddress": "10.0.0.7", "virtualSubnetId": 5001, "macAddress": "10-10-10-10-11-07", "providerAddress": "192.168.4.22", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red VM2" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.0.0.0/24", "nextHop": "0.0.0.0", "metric": 255 }
          ]
        }

        """;

    public static readonly string[] Host1Problems =
    [
        "33: New-NetVirtualizationLookupRecord not imported: -CustomerAddress $vm.IP is a variable, and the script is read, not run; write the value itself",
        "33: New-NetVirtualizationLookupRecord not imported: -MACAddress $vm.MAC is a variable, and the script is read, not run; write the value itself",
        "34: New-NetVirtualizationLookupRecord not imported: -ProviderAddress $vm.PA is a variable, and the script is read, not run; write the value itself",
        "34: New-NetVirtualizationLookupRecord not imported: -VMName $vm.Name is a variable, and the script is read, not run; write the value itself",
        "36: New-NetVirtualizationCustomerRoute not imported: -RoutingDomainID $BlueRdid is a variable, and the script is read, not run; write the value itself",
    ];

    /// <summary>HOST2's script with every value written out: imported whole.</summary>
    public const string Host2 = """
        # HOST2 of the Red/Blue demo (provider address 192.168.4.22 on interface 7, VLAN 10)
        New-NetVirtualizationProviderAddress -InterfaceIndex 7 -ProviderAddress 192.168.4.22 -PrefixLength 24 -VlanID 10
        New-NetVirtualizationProviderRoute -InterfaceIndex 7 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.4.1 -Metric 5
        foreach ($tenant in "Red", "Blue") { Write-Host "policy for $tenant" }
        New-NetVirtualizationLookupRecord -CustomerAddress 10.0.0.5 -VirtualSubnetID 5001 -MACAddress 101010101105 -ProviderAddress 192.168.4.11 -Rule TranslationMethodEncap -VMName "Red VM1"
        New-NetVirtualizationLookupRecord -CustomerAddress 10.0.0.7 -VirtualSubnetID 5001 -MACAddress 101010101107 -ProviderAddress 192.168.4.22 -Rule TranslationMethodEncap -VMName "Red VM2"
        New-NetVirtualizationLookupRecord -CustomerAddress 10.0.0.5 -VirtualSubnetID 6001 -MACAddress 101010101108 -ProviderAddress 192.168.4.11 -Rule TranslationMethodEncap -VMName "Blue VM1"
        New-NetVirtualizationLookupRecord -CustomerAddress 10.0.0.7 -VirtualSubnetID 6001 -MACAddress 101010101109 -ProviderAddress 192.168.4.22 -Rule TranslationMethodEncap -VMName "Blue VM2"
        New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 -DestinationPrefix 10.0.0.0/24 -NextHop 0.0.0.0 -Metric 255
        New-NetVirtualizationCustomerRoute -RoutingDomainID "{22222222-2222-3333-4444-000000000000}" -VirtualSubnetID 6001 -DestinationPrefix 10.0.0.0/24 -NextHop 0.0.0.0 -Metric 255
        """;

    public const string Host2Config = """
        {
          "host": { "name": "hv2" },
          "global": { "gatewayMac": "00-15-5D-FF-FF-FF", "outerTtl": 64, "useExternalRouter": false, "dhcpLeaseSeconds": 86400, "migrationGraceSeconds": 30, "trustRedirects": false },
          "ports": [
            { "name": "pnic7", "role": "provider", "macAddress": "02-00-00-00-00-07", "mtu": 1500 },
            { "name": "Red-VM2", "role": "vm", "macAddress": "10-10-10-10-11-07", "mtu": 1500, "virtualSubnetId": 5001, "vmName": "Red VM2" },
            { "name": "Blue-VM2", "role": "vm", "macAddress": "10-10-10-10-11-09", "mtu": 1500, "virtualSubnetId": 6001, "vmName": "Blue VM2" }
          ],
          "providerAddresses": [
            { "address": "192.168.4.22", "prefixLength": 24, "vlanId": 10, "port": "pnic7" }
          ],
          "providerRoutes": [
            { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.4.1", "metric": 5 }
          ],
          "providerNeighbors": [],
          "lookupRecords": [
            { "customerAddress": "10.0.0.5", "virtualSubnetId": 5001, "macAddress": "10-10-10-10-11-05", "providerAddress": "192.168.4.11", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red VM1" },
            { "customerAddress": "10.0.0.7", "virtualSubnetId": 5001, "macAddress": "10-10-10-10-11-07", "providerAddress": "192.168.4.22", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Red VM2" },
            { "customerAddress": "10.0.0.5", "virtualSubnetId": 6001, "macAddress": "10-10-10-10-11-08", "providerAddress": "192.168.4.11", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Blue VM1" },
            { "customerAddress": "10.0.0.7", "virtualSubnetId": 6001, "macAddress": "10-10-10-10-11-09", "providerAddress": "192.168.4.22", "rule": "TranslationMethodEncap", "type": "Static", "vmName": "Blue VM2" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.0.0.0/24", "nextHop": "0.0.0.0", "metric": 255 },
            { "routingDomainId": "{22222222-2222-3333-4444-000000000000}", "virtualSubnetId": 6001, "destinationPrefix": "10.0.0.0/24", "nextHop": "0.0.0.0", "metric": 255 }
          ]
        }

        """;
}

/// <summary>HnvScriptImporter: the configuration a script gives, and every problem by line.</summary>
public class ImportPsTests
{
    private static HnvImportResult Import(string script, string host = "hv1") => HnvScriptImporter.Import(script, host);

    private static string[] Problems(HnvImportResult result) => [.. result.Problems.Select(p => p.ToString())];

    [TestCase("{", "}")]
    [TestCase("(", ")")]
    [TestCase("$(", ")")]
    public void Brackets_nested_thousands_deep_are_one_problem_not_a_stack_overflow(string open, string close)
    {
        // 5,000 levels overflowed the reader's stack and ended the process (exit 134).
        string script = "New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap\n"
            + "$x = " + string.Concat(Enumerable.Repeat(open, 5000)) + "1" + string.Concat(Enumerable.Repeat(close, 5000)) + "\n";
        var result = Import(script);
        Assert.That(Problems(result), Has.Exactly(1).Contains("nested more than 200 deep"), string.Join("\n", Problems(result)));
        Assert.That(result.Complete, Is.False);
    }

    private static string[] Notes(HnvImportResult result) => [.. result.Notes.Select(p => p.ToString())];

    // ---- the Red/Blue demo -------------------------------------------------------------------

    [Test]
    public void Demo_script_gives_this_exact_configuration()
    {
        var result = Import(ImportPsScripts.Host1);

        Assert.That(ConfigWriter.Write(result.Config), Is.EqualTo(ImportPsScripts.Host1Config));
    }

    [Test]
    public void Demo_script_reports_each_variable_of_the_blue_loop_at_its_line_and_is_not_complete()
    {
        var result = Import(ImportPsScripts.Host1);

        Assert.That(Problems(result), Is.EqualTo(ImportPsScripts.Host1Problems));
        Assert.That(result.Complete, Is.False);
    }

    [Test]
    public void Demo_script_notes_the_cleanup_and_counts_the_other_commands_once_each()
    {
        var result = Import(ImportPsScripts.Host1);

        Assert.That(Notes(result), Is.EqualTo(new[]
        {
            "7: Get-NetVirtualizationLookupRecord reads the policy; nothing to import",
            "7: Remove-NetVirtualizationLookupRecord clears the policy before the script builds it; the configuration file replaces the whole policy anyway",
            "8: Get-NetVirtualizationCustomerRoute reads the policy; nothing to import",
            "8: Remove-NetVirtualizationCustomerRoute clears the policy before the script builds it; the configuration file replaces the whole policy anyway",
        }));
        Assert.That(result.Skipped, Is.EqualTo(new[]
        {
            new SkippedCommand("Get-NetAdapter", 1, 10),
            new SkippedCommand("Enable-NetAdapterBinding", 1, 11),
            new SkippedCommand("Write-Host", 2, 12),
            new SkippedCommand("Set-VMNetworkAdapter", 2, 38),
        }));
    }

    [Test]
    public void What_the_demo_script_gives_loads_back_with_no_problem()
    {
        string written = ConfigWriter.Write(Import(ImportPsScripts.Host1).Config);

        var loaded = ConfigLoader.Load(written);

        Assert.That(loaded.Problems, Is.Empty);
        Assert.That(loaded.Config!.LookupRecords.Select(r => (r.CustomerAddress.ToString(), r.VirtualSubnetId)), Is.EqualTo(new[] { ("10.0.0.5", 5001u), ("10.0.0.7", 5001u) }));
    }

    [Test]
    public void A_script_with_every_value_written_out_is_imported_whole_and_passes_validation()
    {
        var result = Import(ImportPsScripts.Host2, "hv2");

        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Complete, Is.True);
        Assert.That(ConfigWriter.Write(result.Config), Is.EqualTo(ImportPsScripts.Host2Config));
        Assert.That(ConfigLoader.Load(ImportPsScripts.Host2Config).Problems, Is.Empty);
        Assert.That(Notes(result), Is.EqualTo(new[]
        {
            "2: port pnic7 gets the made-up MAC 02-00-00-00-00-07: the script gives no -MACAddress for interface 7; set the NIC's own MAC, and a device, before nvdp run",
        }));
        Assert.That(result.Skipped, Is.EqualTo(new[] { new SkippedCommand("Write-Host", 1, 4) }));
    }

    // ---- parameters --------------------------------------------------------------------------

    [Test]
    public void Parameter_names_ignore_case_and_take_any_unambiguous_prefix()
    {
        var result = Import("""
            new-netvirtualizationprovideraddress -int 3 -pro 192.168.1.10 -pre 24 -vl 12 -mac 02-00-00-00-01-0A
            NEW-NETVIRTUALIZATIONPROVIDERROUTE -Int 3 -Des 0.0.0.0/0 -N 192.168.1.1 -M 7
            New-NetVirtualizationLookupRecord -customera 10.1.1.7 -vi 5001 -ma 00155D000001 -pr 192.168.1.10 -ru translationmethodnat -vm red1 -ty dynamic -customeri c1 -co "rack 4"
            New-NetVirtualizationCustomerRoute -r "{11111111-2222-3333-4444-000000000000}" -vi 5001 -des 10.1.1.0/24 -n 0.0.0.0 -Metric:10 -ea Stop -vb
            """);

        Assert.That(result.Problems, Is.Empty);
        var c = result.Config;
        Assert.That(c.ProviderAddresses, Is.EqualTo(new[] { new ProviderAddressConfig(IpAddr.Parse("192.168.1.10"), 24, 12, "pnic3") }));
        Assert.That(c.Ports[0], Is.EqualTo(new PortConfig("pnic3", PortRole.Provider, null, MacAddress.Parse("02-00-00-00-01-0A"), 1500, null, null)));
        Assert.That(c.ProviderRoutes, Is.EqualTo(new[] { new ProviderRouteConfig(IpPrefix.Parse("0.0.0.0/0"), IpAddr.Parse("192.168.1.1"), 7) }));
        Assert.That(c.LookupRecords, Is.EqualTo(new[]
        {
            new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, MacAddress.Parse("00-15-5D-00-00-01"), IpAddr.Parse("192.168.1.10"), TranslationRule.Nat, RecordType.Dynamic, "red1", "c1", "rack 4"),
        }));
        Assert.That(c.CustomerRoutes.Single().Metric, Is.EqualTo(10));
    }

    [Test]
    public void An_ambiguous_prefix_is_reported_with_every_parameter_it_could_be()
    {
        var result = Import("""
            # interface 12
            New-NetVirtualizationProviderAddress -In 12 -ProviderAddress 192.168.1.10 -PrefixLength 24
            New-NetVirtualizationLookupRecord -Cu 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "2: New-NetVirtualizationProviderAddress not imported: -In is ambiguous: it could be -InterfaceIndex, -InformationAction, -InformationVariable; write more of the name",
            "3: New-NetVirtualizationLookupRecord not imported: -Cu is ambiguous: it could be -CustomerAddress, -CustomerID; write more of the name",
        }));
        Assert.That(result.Config.ProviderAddresses, Is.Empty);
    }

    [Test]
    public void An_unknown_parameter_is_reported_at_its_own_line_of_a_continued_command_with_the_nearest_name()
    {
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 `
                -MACAdress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -AddressState Preferred
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "1: New-NetVirtualizationLookupRecord not imported: -MACAddress is missing; New-NetVirtualizationLookupRecord requires it",
            "2: New-NetVirtualizationLookupRecord not imported: -MACAdress is not a parameter of New-NetVirtualizationLookupRecord; did you mean -MACAddress? "
                + "its parameters are -CustomerAddress, -VirtualSubnetID, -MACAddress, -ProviderAddress, -CustomerID, -Context, -Rule, -VMName, -UseVmMACAddress, -Type",
            "3: New-NetVirtualizationProviderAddress not imported: -AddressState is not a parameter of New-NetVirtualizationProviderAddress; "
                + "its parameters are -ProviderAddress, -InterfaceIndex, -PrefixLength, -VlanID, -MACAddress",
        }));
        Assert.That(result.Config.LookupRecords, Is.Empty);
        Assert.That(result.Config.ProviderAddresses, Is.Empty);
    }

    [Test]
    public void Positional_arguments_missing_values_and_repeated_parameters_are_reported_by_line()
    {
        var result = Import("""
            New-NetVirtualizationProviderRoute 0.0.0.0/0 -InterfaceIndex 3 -NextHop 192.168.1.1
            New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop
            New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1 -Metric 5 `
                -Metric 6
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "1: New-NetVirtualizationProviderRoute not imported: \"0.0.0.0/0\" belongs to no parameter; New-NetVirtualizationProviderRoute takes named parameters only (-Name value)",
            "1: New-NetVirtualizationProviderRoute not imported: -DestinationPrefix is missing; New-NetVirtualizationProviderRoute requires it",
            "2: New-NetVirtualizationProviderRoute not imported: -NextHop has no value; give one after it",
            "4: New-NetVirtualizationProviderRoute not imported: -Metric is given twice (first on line 3); give it once",
        }));
        Assert.That(result.Config.ProviderRoutes, Is.Empty);
    }

    // ---- values ------------------------------------------------------------------------------

    [Test]
    public void Values_known_only_when_the_script_runs_are_reported_by_line()
    {
        var result = Import("""
            $vsid = 5001
            New-NetVirtualizationLookupRecord -CustomerAddress "10.1.1.$n" -VirtualSubnetID $vsid -MACAddress (Get-VMNetworkAdapter -VMName Red1).MacAddress `
                -ProviderAddress $PA[0] -Rule TranslationMethodEncap -VMName {Red1}
            New-NetVirtualizationLookupRecord @record
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.8,10.1.1.9 -VirtualSubnetID {5001} -MACAddress 00155D000002 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            """);

        const string Read = ", and the script is read, not run; write the value itself";
        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "2: New-NetVirtualizationLookupRecord not imported: -CustomerAddress \"10.1.1.$n\" is an expression" + Read,
            "2: New-NetVirtualizationLookupRecord not imported: -VirtualSubnetID $vsid is a variable" + Read,
            "2: New-NetVirtualizationLookupRecord not imported: -MACAddress (Get-VMNetworkAdapter -VMName Red1).MacAddress is an expression" + Read,
            "3: New-NetVirtualizationLookupRecord not imported: -ProviderAddress $PA[0] is a variable" + Read,
            "4: New-NetVirtualizationLookupRecord not imported: @record passes parameters from a hashtable, and the script is read, not run; write the parameters out",
            "5: New-NetVirtualizationLookupRecord not imported: -CustomerAddress 10.1.1.8,10.1.1.9 is an expression" + Read,
            "5: New-NetVirtualizationLookupRecord not imported: -VirtualSubnetID {5001} is a script block; write the value itself",
        }));
    }

    [Test]
    public void A_script_block_given_for_a_string_is_its_text_as_PowerShell_binds_it()
    {
        var result = Import("""
            New-NetVirtualizationCustomerRoute -RoutingDomainID {11111111-2222-3333-4444-000000000000} -VirtualSubnetID 0x1389 -DestinationPrefix 10.1.1.0/24 -NextHop 0.0.0.0
            """);

        Assert.That(result.Problems, Is.Empty);
        Assert.That(result.Config.CustomerRoutes, Is.EqualTo(new[]
        {
            new CustomerRouteConfig(new Guid("11111111-2222-3333-4444-000000000000"), 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, CustomerRouteConfig.DefaultMetric),
        }));
    }

    [Test]
    public void Values_PowerShell_would_not_convert_are_reported_by_line()
    {
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 50O1 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule Encap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodNone -Type Wildcard
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 300
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.20 -Rule TranslationMethodNat -UseVmMACAddress yes
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "1: New-NetVirtualizationLookupRecord not imported: -VirtualSubnetID \"50O1\" is not a whole number 0..4294967295",
            "1: New-NetVirtualizationLookupRecord not imported: -Rule \"Encap\" is not a rule; use TranslationMethodEncap or TranslationMethodNat",
            "2: New-NetVirtualizationLookupRecord not imported: -Rule TranslationMethodNone (no virtualization) has no NvDataplane equivalent; use TranslationMethodEncap or TranslationMethodNat",
            "2: New-NetVirtualizationLookupRecord not imported: -Type \"Wildcard\" is not a record type; use Static, Dynamic, L2Only or GatewayWildcard",
            "3: New-NetVirtualizationProviderAddress not imported: -PrefixLength \"300\" is not a whole number 0..255",
            "4: New-NetVirtualizationLookupRecord not imported: -UseVmMACAddress \"yes\" is not a Boolean; use $true or $false",
        }));
    }

    [Test]
    public void Values_the_configuration_refuses_are_reported_at_their_line_and_parameter_with_the_validator_s_reason()
    {
        var result = Import("""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.11 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000002 -ProviderAddress 192.168.1.12 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.8 -VirtualSubnetID 42 -MACAddress 00155D000003 -ProviderAddress 192.168.1.12 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.9 -VirtualSubnetID 5001 -MACAddress 01005E000001 -ProviderAddress 192.168.1.12 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.20 -VirtualSubnetID 5001 -MACAddress 00155D000004 -ProviderAddress 192.168.1.11 -Rule TranslationMethodNat
            New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 -DestinationPrefix 10.1.1.1/24 -NextHop 0.0.0.0
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.300 -VirtualSubnetID 5001 -MACAddress 00155D000005 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.10 -VirtualSubnetID 5001 -MACAddress 02-00-00-00-01-0A -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap -VMName Clash
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "3: New-NetVirtualizationLookupRecord not imported: -CustomerAddress: 10.1.1.7 in virtual subnet 5001 is already mapped by line 2; each (virtualSubnetId, customerAddress) appears once",
            "4: New-NetVirtualizationLookupRecord not imported: -VirtualSubnetID: 42 is reserved; use 4096..16777214",
            "5: New-NetVirtualizationLookupRecord not imported: -MACAddress: 01005E000001 is a multicast MAC address; use a unicast MAC (low bit of the first byte clear), not all zeros",
            "6: New-NetVirtualizationLookupRecord not imported: -ProviderAddress: 192.168.1.11 is also the provider address of line 2; a TranslationMethodNat record needs a PA of its own",
            "7: New-NetVirtualizationCustomerRoute not imported: -DestinationPrefix: \"10.1.1.1/24\" has host bits set; use 10.1.1.0/24",
            "8: New-NetVirtualizationLookupRecord not imported: -CustomerAddress: \"10.1.1.300\" is not an IPv4 or IPv6 address; use an IPv4 or IPv6 address such as 10.1.1.7 or 2001:db8::7",
            "9: New-NetVirtualizationLookupRecord not imported: -MACAddress: 02-00-00-00-01-0A is already the MAC of port pnic3 (line 1); each port needs its own MAC address",
        }));
        Assert.That(result.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.7" }));
        Assert.That(ConfigLoader.Load(ConfigWriter.Write(result.Config)).Problems, Is.Empty);
    }

    // ---- the module's other cmdlets, unknown ones, other computers ----------------------------

    [Test]
    public void Other_NetWNV_cmdlets_are_noted_when_harmless_and_reported_when_they_change_the_policy()
    {
        var result = Import("""
            Get-NetVirtualizationProviderAddress | Remove-NetVirtualizationProviderAddress
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            Select-NetVirtualizationNextHop -SourceCustomerAddress 10.1.1.7 -DestinationCustomerAddress 10.1.1.8 -SourceVirtualSubnetID 5001
            Set-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -ProviderAddress 192.168.1.12
            Remove-NetVirtualizationProviderRoute -DestinationPrefix 0.0.0.0/0
            Set-NetVirtualizationGlobal -UseExternalRouter $true
            New-NetVirtualizationLookupRecords -CustomerAddress 10.1.1.7
            NetWNV\New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
            New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 -DestinationPrefix 10.1.1.0/24 -NextHop 0.0.0.0 -CimSession $Host2
            """);

        Assert.That(Notes(result), Is.EqualTo(new[]
        {
            "1: Get-NetVirtualizationProviderAddress reads the policy; nothing to import",
            "1: Remove-NetVirtualizationProviderAddress clears the policy before the script builds it; the configuration file replaces the whole policy anyway",
            "3: Select-NetVirtualizationNextHop reads the policy; nothing to import",
        }));
        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "4: Set-NetVirtualizationLookupRecord not imported: only the New-NetVirtualization* commands are; put the changed value on the New- command instead",
            "5: Remove-NetVirtualizationProviderRoute not imported: only the New-NetVirtualization* commands are; take the removed entries out of the script instead",
            "6: Set-NetVirtualizationGlobal not imported: set \"global\" (useExternalRouter) in the configuration file instead",
            "7: New-NetVirtualizationLookupRecords not imported: the NetWNV module has no such cmdlet; did you mean New-NetVirtualizationLookupRecord?",
            "9: New-NetVirtualizationCustomerRoute not imported: -CimSession $Host2 runs the command on another computer; import each computer's own script",
        }));
        Assert.That(result.Config.ProviderRoutes.Single().NextHop, Is.EqualTo(IpAddr.Parse("192.168.1.1")), "NetWNV\\ names the module");
        Assert.That(result.Skipped, Is.Empty);
    }

    [Test]
    public void A_misspelt_cmdlet_is_reported_and_a_script_without_any_is_an_error()
    {
        var misspelt = Import("New-NetVirtualisationLookupRecord -CustomerAddress 10.1.1.7\nWrite-Output done");

        Assert.That(Problems(misspelt), Is.EqualTo(new[]
        {
            "no New-NetVirtualizationLookupRecord, New-NetVirtualizationCustomerRoute, New-NetVirtualizationProviderAddress or New-NetVirtualizationProviderRoute command found; nothing to import",
            "1: New-NetVirtualisationLookupRecord not imported: the NetWNV module has no such cmdlet; did you mean New-NetVirtualizationLookupRecord?",
        }));
        Assert.That(misspelt.Problems[0].ToString(), Does.Not.StartWith("0:"), "line 0 is the script as a whole");
        Assert.That(misspelt.Skipped, Is.EqualTo(new[] { new SkippedCommand("Write-Output", 1, 2) }));
    }

    [Test]
    public void UseVmMACAddress_true_is_reported_but_the_record_is_imported()
    {
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodNat -UseVmMACAddress $true
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.8 -VirtualSubnetID 5001 -MACAddress 00155D000002 -ProviderAddress 192.168.1.11 -Rule TranslationMethodNat -UseVmMACAddress $false
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "1: New-NetVirtualizationLookupRecord: -UseVmMACAddress $true is not imported (the record is): NvDataplane sends rewritten frames from the provider port's MAC",
        }));
        Assert.That(result.Config.LookupRecords, Has.Count.EqualTo(2));
    }

    [Test]
    public void UseVmMACAddress_true_with_the_encap_rule_is_refused_as_Windows_refuses_it()
    {
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap -UseVmMACAddress $true
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.8 -VirtualSubnetID 5001 -MACAddress 00155D000002 -ProviderAddress 192.168.1.11 -Rule TranslationMethodEncap
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "1: New-NetVirtualizationLookupRecord not imported: -UseVmMACAddress $true is valid only with -Rule TranslationMethodNat; Windows refuses the command",
        }));
        Assert.That(result.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.8" }));
    }

    [Test]
    public void A_WS2012_wildcard_record_for_0_0_0_0_or_colons_without_Type_is_imported_as_the_gateway_wildcard()
    {
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress 10.6.0.2 -VirtualSubnetID 5001 -MACAddress 00155d05df03 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 0.0.0.0 -VirtualSubnetID 5001 -MACAddress 00155d05df03 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress :: -VirtualSubnetID 5001 -MACAddress 00155d05df03 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 -DestinationPrefix 10.6.0.0/24 -NextHop 0.0.0.0
            New-NetVirtualizationCustomerRoute -RoutingDomainID "{11111111-2222-3333-4444-000000000000}" -VirtualSubnetID 5001 -DestinationPrefix 0.0.0.0/0 -NextHop 10.6.0.2
            """);

        Assert.That(Problems(result), Is.Empty);
        Assert.That(result.Config.LookupRecords.Select(r => (r.CustomerAddress.ToString(), r.Type)), Is.EqualTo(new[]
        {
            ("10.6.0.2", RecordType.Static), ("0.0.0.0", RecordType.GatewayWildcard), ("::", RecordType.GatewayWildcard),
        }));
        Assert.That(result.Notes.Select(n => n.ToString()), Has.Some.Contains("2: New-NetVirtualizationLookupRecord -CustomerAddress 0.0.0.0 without -Type: WS2012's gateway wildcard record"));
    }

    [TestCase("0::0")]
    [TestCase("0:0:0:0:0:0:0:0")]
    [TestCase("::0.0.0.0")]
    public void A_WS2012_wildcard_record_is_known_by_its_address_not_its_spelling(string unspecified)
    {
        // The rule compared text: "::" was the gateway wildcard, "0::0" a Static record the validator refused.
        var result = Import($"""
            New-NetVirtualizationLookupRecord -CustomerAddress {unspecified} -VirtualSubnetID 5001 -MACAddress 00155d05df03 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            """);

        Assert.That(Problems(result), Is.Empty);
        Assert.That(result.Config.LookupRecords.Single().Type, Is.EqualTo(RecordType.GatewayWildcard));
        Assert.That(Notes(result), Has.Some.Contains($"1: New-NetVirtualizationLookupRecord -CustomerAddress {unspecified} without -Type: WS2012's gateway wildcard record"));
    }

    [Test]
    public void An_ipv4_mapped_customer_address_is_not_imported_and_the_problem_names_the_ipv4_address()
    {
        // It was read as 0.0.0.0 (the IPv4 wildcard) and imported; addresses in policy are now written in their own family.
        var result = Import("""
            New-NetVirtualizationLookupRecord -CustomerAddress ::ffff:0.0.0.0 -VirtualSubnetID 5001 -MACAddress 00155d05df03 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            """);

        Assert.That(result.Config.LookupRecords, Is.Empty);
        Assert.That(Problems(result), Is.EqualTo(new[] { "1: New-NetVirtualizationLookupRecord not imported: -CustomerAddress: \"::ffff:0.0.0.0\" is an IPv4-mapped IPv6 address, which is never on the wire; give the IPv4 address 0.0.0.0" }));
    }

    [Test]
    public void A_command_in_a_block_is_imported_with_a_note_naming_the_block()
    {
        var result = Import("""
            if ($env:COMPUTERNAME -eq "HOST1")
            {
                New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            }
            Invoke-Command -ScriptBlock {
                New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
            }
            """);

        Assert.That(result.Problems, Is.Empty);
        Assert.That(Notes(result), Is.EqualTo(new[]
        {
            "3: New-NetVirtualizationProviderAddress sits in the if block of line 1; it is imported as if it runs, once",
            "6: New-NetVirtualizationProviderRoute sits in the Invoke-Command block of line 5; it is imported as if it runs, once",
        }));
        Assert.That((result.Config.ProviderAddresses.Count, result.Config.ProviderRoutes.Count), Is.EqualTo((1, 1)));
    }

    [TestCase("exit")]
    [TestCase("exit 1")]
    [TestCase("return")]
    [TestCase("throw \"not this host\"")]
    public void Commands_after_a_top_level_exit_return_or_throw_never_run_and_are_not_imported(string end)
    {
        // They were imported as if the script went on.
        var result = Import($$"""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            if ($env:COMPUTERNAME -ne "HOST1") { exit }
            Write-Host "HOST1 done"; {{end}}
            New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
            Write-Host "HOST2"
            foreach ($i in 1..2) {
                New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            }
            """);

        string keyword = end.Split(' ')[0];
        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            $"4: New-NetVirtualizationProviderRoute not imported: it comes after the {keyword} of line 3, where the script ends, so it never runs",
            $"7: New-NetVirtualizationLookupRecord not imported: it comes after the {keyword} of line 3, where the script ends, so it never runs",
        }));
        Assert.That((result.Config.ProviderAddresses.Count, result.Config.ProviderRoutes.Count, result.Config.LookupRecords.Count), Is.EqualTo((1, 0, 0)));
        Assert.That(result.Skipped.Select(s => (s.Name, s.Count)), Is.EqualTo(new[] { ("Write-Host", 1) }), "what never runs is not listed either");
        Assert.That(result.Complete, Is.False);
    }

    [Test]
    public void A_throw_a_trap_may_catch_and_an_exit_in_a_block_do_not_end_the_script()
    {
        var result = Import("""
            trap { Write-Warning $_; continue }
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            throw "goes on"
            if ($x) { return }
            New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
            """);

        Assert.That(result.Problems, Is.Empty);
        Assert.That((result.Config.ProviderAddresses.Count, result.Config.ProviderRoutes.Count), Is.EqualTo((1, 1)));
    }

    [TestCase("Invoke-Command -ComputerName HOST2 -ScriptBlock", "Invoke-Command -ComputerName \"HOST2\"")]
    [TestCase("Invoke-Command -Comp:HOST2", "Invoke-Command -Comp \"HOST2\"")]
    [TestCase("Invoke-Command -Cn 'HOST2', 'HOST3'", "Invoke-Command -Cn 'HOST2', 'HOST3'")]
    [TestCase("Invoke-Command HOST2", "Invoke-Command \"HOST2\"")]
    [TestCase("Invoke-Command -AsJob HOST2", "Invoke-Command \"HOST2\"")]
    [TestCase("icm -Session $s", "icm -Session $s")]
    [TestCase("Invoke-Command (New-PSSession HOST2)", "Invoke-Command (New-PSSession HOST2)")]
    [TestCase("Invoke-Command -VMName 'Gateway VM' -Credential $cred", "Invoke-Command -VMName \"Gateway VM\"")]
    [TestCase("Invoke-Command -HostName host2.contoso.com", "Invoke-Command -HostName \"host2.contoso.com\"")]
    public void A_command_Invoke_Command_runs_on_another_computer_is_not_imported(string invoke, string shown)
    {
        // It was imported, with a note, as this host's policy.
        var result = Import($$"""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            {{invoke}} {
                foreach ($i in 1..2) {
                    New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
                }
            }
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            $"4: New-NetVirtualizationProviderRoute not imported: it sits in the script block of {shown} (line 2), which runs it on another computer; import each computer's own script",
        }));
        Assert.That((result.Config.ProviderAddresses.Count, result.Config.ProviderRoutes.Count), Is.EqualTo((1, 0)));
        Assert.That(result.Complete, Is.False);
    }

    [TestCase("Invoke-Command -ComputerName localhost")]
    [TestCase("Invoke-Command -ComputerName $env:COMPUTERNAME")]
    [TestCase("Invoke-Command LocalHost")]
    [TestCase("Invoke-Command -NoNewScope -ScriptBlock")]
    public void A_command_Invoke_Command_runs_here_is_imported_with_a_note(string invoke)
    {
        var result = Import($$"""
            {{invoke}} {
                New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            }
            """);

        Assert.That(result.Problems, Is.Empty);
        Assert.That(Notes(result), Is.EqualTo(new[] { $"2: New-NetVirtualizationProviderAddress sits in the {invoke.Split(' ')[0]} block of line 1; it is imported as if it runs, once" }));
        Assert.That(result.Config.ProviderAddresses, Has.Count.EqualTo(1));
    }

    [Test]
    public void Commands_between_Enter_PSSession_and_Exit_PSSession_are_meant_for_another_computer_and_not_imported()
    {
        var result = Import("""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            Enter-PSSession -ComputerName HOST2 -Credential $cred
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.20 -PrefixLength 24 -MACAddress 02-00-00-00-02-0A
            Exit-PSSession
            New-NetVirtualizationProviderRoute -InterfaceIndex 3 -DestinationPrefix 0.0.0.0/0 -NextHop 192.168.1.1
            """);

        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "3: New-NetVirtualizationProviderAddress not imported: it follows the Enter-PSSession of line 2, so it is meant for another computer; import each computer's own script",
        }));
        Assert.That(result.Config.ProviderAddresses.Select(p => p.Address.ToString()), Is.EqualTo(new[] { "192.168.1.10" }));
        Assert.That(result.Config.ProviderRoutes, Has.Count.EqualTo(1));
    }

    // ---- ports -------------------------------------------------------------------------------

    [Test]
    public void This_host_s_VMs_get_one_vm_port_per_MAC_named_after_the_VM()
    {
        var result = Import("""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 00155DAA0001
            New-NetVirtualizationProviderAddress -InterfaceIndex 4 -ProviderAddress 2001:db8::10 -PrefixLength 64
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap -VMName "Web 01 (Red)"
            New-NetVirtualizationLookupRecord -CustomerAddress fd00::7 -VirtualSubnetID 5001 -MACAddress 00-15-5D-00-00-01 -ProviderAddress 2001:db8::10 -Rule TranslationMethodEncap -VMName "Web 01 (Red)"
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.8 -VirtualSubnetID 5001 -MACAddress 00155D000002 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap -VMName "Web 01 (Red)"
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.9 -VirtualSubnetID 5001 -MACAddress 00155D000003 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.10 -VirtualSubnetID 5001 -MACAddress 00155D000004 -ProviderAddress 192.168.1.99 -Rule TranslationMethodEncap -VMName Remote
            New-NetVirtualizationLookupRecord -CustomerAddress 10.2.2.7 -VirtualSubnetID 6001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.10 -Rule TranslationMethodEncap
            """);

        static PortConfig Vm(string name, string mac, uint vsid, string? vmName) => new(name, PortRole.Vm, null, MacAddress.Parse(mac), 1500, vsid, vmName);
        Assert.That(result.Config.Ports, Is.EqualTo(new[]
        {
            new PortConfig("pnic3", PortRole.Provider, null, MacAddress.Parse("00-15-5D-AA-00-01"), 1500, null, null),
            new PortConfig("pnic4", PortRole.Provider, null, MacAddress.Parse("02-00-00-00-00-04"), 1500, null, null),
            Vm("Web-01-Red", "00-15-5D-00-00-01", 5001, "Web 01 (Red)"),
            Vm("Web-01-Red-2", "00-15-5D-00-00-02", 5001, "Web 01 (Red)"),
            Vm("vm-00155D000003", "00-15-5D-00-00-03", 5001, null),
        }));
        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "8: New-NetVirtualizationLookupRecord: the VM with MAC 00-15-5D-00-00-01 on this host is in virtual subnet 5001 (line 3); its port stays there, as a port has one virtual subnet",
        }));
        Assert.That(Notes(result), Is.EqualTo(new[]
        {
            "2: port pnic4 gets the made-up MAC 02-00-00-00-00-04: the script gives no -MACAddress for interface 4; set the NIC's own MAC, and a device, before nvdp run",
        }));
        Assert.That(result.Config.LookupRecords, Has.Count.EqualTo(6), "every record is imported, remote ones too");
    }

    [Test]
    public void A_provider_port_keeps_its_first_MAC_and_reports_a_different_one()
    {
        var result = Import("""
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.20 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.30 -PrefixLength 24 -MACAddress 020000000199
            New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.40 -PrefixLength 24 -MACAddress 02:00:00:00:01:0a
            """);

        Assert.That(result.Config.Ports.Single().MacAddress, Is.EqualTo(MacAddress.Parse("02-00-00-00-01-0A")));
        Assert.That(result.Config.ProviderAddresses.Select(p => p.Port), Is.EqualTo(new[] { "pnic3", "pnic3", "pnic3", "pnic3" }));
        Assert.That(Problems(result), Is.EqualTo(new[]
        {
            "3: New-NetVirtualizationProviderAddress: -MACAddress 020000000199 is not imported (the address is): port pnic3 has the MAC 02-00-00-00-01-0A of line 2, and a port has one MAC",
        }));
        Assert.That(result.Notes, Is.Empty);
    }

    // ---- reading the script ------------------------------------------------------------------

    [Test]
    public void Unclosed_strings_comments_and_brackets_are_reported_at_the_line_they_open()
    {
        Assert.That(Problems(Import("New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24\nif ($x) {\n    Write-Host \"oops)\n")), Is.EqualTo(new[]
        {
            "2: the '{' opened here is never closed with '}'",
            "3: the string opened here is never closed; the rest of the script is read as part of it",
        }));
        Assert.That(Problems(Import("New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24\n\n<# note\n")), Is.EqualTo(new[]
        {
            "3: the <# comment opened here is never closed with #>; the rest of the script is read as a comment",
        }));
        Assert.That(Problems(Import("New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 }\n(Get-X]\n")), Is.EqualTo(new[]
        {
            "1: '}' closes nothing; remove it or add its opening bracket",
            "2: the '(' opened here is never closed with ')'",
        }));
    }
}

/// <summary>PowerShellScriptReader: the commands of a script and their arguments, as PowerShell reads them.</summary>
public class ImportPsReaderTests
{
    private const string Script = """
        <# a block comment
           New-NetVirtualizationLookupRecord -CustomerAddress 10.9.9.9
        #>
        New-Thing -A 'it''s' -B "say `"hi`"" ; Other-Thing -C:5 # Commented-Thing -X 1
        $r = Assigned-Thing -D `
           value
        Get-Stuff | Where-Object { $_.x -eq 1 } | ForEach-Object { Inner-Thing -E $_ }
        $h = @{ Key = 'v'; Other = Valued-Thing }
        foreach ($i in 1..3) { Loop-Thing -F $i }
        Quiet-Thing -G x > $null 2>&1
        & 'Quoted-Thing' -H “smart” –I x
        $here = @"
        Not-A-Command -J $x
        "@
        Last-Thing -K (Sub-Thing -L 1).Name
        """;

    private static ScriptArgument P(string name, int line) => new(ScriptArgumentKind.Parameter, name, line);

    private static ScriptArgument L(string text, int line) => new(ScriptArgumentKind.Literal, text, line);

    [Test]
    public void Finds_every_command_in_source_order_and_nothing_in_comments_strings_or_hashtable_keys()
    {
        var read = PowerShellScriptReader.Read(Script);

        Assert.That(read.Problems, Is.Empty);
        Assert.That(read.Commands.Select(c => (c.Name, c.Line)), Is.EqualTo(new[]
        {
            ("New-Thing", 4), ("Other-Thing", 4), ("Assigned-Thing", 5), ("Get-Stuff", 7), ("Where-Object", 7), ("ForEach-Object", 7),
            ("Inner-Thing", 7), ("Valued-Thing", 8), ("Loop-Thing", 9), ("Quiet-Thing", 10), ("Quoted-Thing", 11), ("Last-Thing", 15), ("Sub-Thing", 15),
        }));
    }

    [Test]
    public void Reads_quotes_escapes_continuations_colon_values_and_typographic_quotes_and_dashes()
    {
        var commands = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Arguments);

        Assert.That(commands["New-Thing"], Is.EqualTo(new[] { P("A", 4), L("it's", 4), P("B", 4), L("say \"hi\"", 4) }));
        Assert.That(commands["Other-Thing"], Is.EqualTo(new[] { new ScriptArgument(ScriptArgumentKind.ParameterWithValue, "C", 4), L("5", 4) }));
        Assert.That(commands["Assigned-Thing"], Is.EqualTo(new[] { P("D", 5), L("value", 6) }));
        Assert.That(commands["Quiet-Thing"], Is.EqualTo(new[] { P("G", 10), L("x", 10) }), "redirections are no arguments");
        Assert.That(commands["Quoted-Thing"], Is.EqualTo(new[] { P("H", 11), L("smart", 11), P("I", 11), L("x", 11) }));
    }

    [Test]
    public void Classifies_variables_expressions_and_script_blocks()
    {
        var commands = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Arguments);

        Assert.That(commands["Where-Object"], Is.EqualTo(new[] { new ScriptArgument(ScriptArgumentKind.ScriptBlock, "$_.x -eq 1", 7) }));
        Assert.That(commands["Inner-Thing"], Is.EqualTo(new[] { P("E", 7), new ScriptArgument(ScriptArgumentKind.Variable, "$_", 7) }));
        Assert.That(commands["Loop-Thing"], Is.EqualTo(new[] { P("F", 9), new ScriptArgument(ScriptArgumentKind.Variable, "$i", 9) }));
        Assert.That(commands["Last-Thing"], Is.EqualTo(new[] { P("K", 15), new ScriptArgument(ScriptArgumentKind.Expression, "(Sub-Thing -L 1).Name", 15) }));
    }

    [Test]
    public void Knows_the_keyword_or_command_whose_block_a_command_sits_in()
    {
        var within = PowerShellScriptReader.Read(Script).Commands.ToDictionary(c => c.Name, c => c.Within);

        Assert.That(within["Inner-Thing"], Is.EqualTo(new ScriptBlockOwner("ForEach-Object", 7)));
        Assert.That(within["Loop-Thing"], Is.EqualTo(new ScriptBlockOwner("foreach", 9)));
        Assert.That(within["Sub-Thing"], Is.Null, "a ( ) group is no block");
        Assert.That(within["New-Thing"], Is.Null);
    }

    [Test]
    public void Knows_the_commands_whose_blocks_a_command_sits_in_with_all_their_arguments()
    {
        var commands = PowerShellScriptReader.Read("Invoke-Command { foreach ($i in 1) { % { Inner-Thing } } } -ComputerName HOST2\nif ($x) { Outer-Thing }")
            .Commands.ToDictionary(c => c.Name);

        Assert.That(commands["Inner-Thing"].Enclosing.Select(c => (c.Name, c.Arguments.Count)), Is.EqualTo(new[] { ("Invoke-Command", 3), ("%", 1) }));
        Assert.That(commands["Outer-Thing"].Enclosing, Is.Empty, "a keyword statement is no command");
    }

    [Test]
    public void True_and_false_are_constants_and_a_string_that_expands_is_an_expression()
    {
        var arguments = PowerShellScriptReader.Read("Any-Thing $TRUE $false 'a$b' \"a`$b\" \"a$b\" a$b").Commands.Single().Arguments;

        Assert.That(arguments.Select(a => (a.Kind, a.Text)), Is.EqualTo(new[]
        {
            (ScriptArgumentKind.Literal, "True"), (ScriptArgumentKind.Literal, "False"), (ScriptArgumentKind.Literal, "a$b"),
            (ScriptArgumentKind.Literal, "a$b"), (ScriptArgumentKind.Expression, "\"a$b\""), (ScriptArgumentKind.Expression, "a$b"),
        }));
    }
}

/// <summary><c>nvdp import-ps</c>: the files it writes, what it says, its exit codes.</summary>
public class ImportPsCliTests
{
    private static (int Code, string Out, string Err) Nvdp(params string[] args) => CliTests.Nvdp(args);

    [Test]
    public void A_fully_importable_script_is_written_to_out_exits_0_and_the_file_validates()
    {
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "hv2.ps1");
        string config = Path.Combine(temp.Path, "hv2.json");
        File.WriteAllText(script, ImportPsScripts.Host2);

        var (code, output, err) = Nvdp("import-ps", script, "--out", config);

        Assert.That(code, Is.Zero, err);
        Assert.That(File.ReadAllText(config), Is.EqualTo(ImportPsScripts.Host2Config));
        Assert.That(output, Is.EqualTo($"{script}: imported 1 provider address, 1 provider route, 4 lookup records, 2 customer routes and 3 ports into {config}; complete\n"));
        Assert.That(err, Does.Contain($"{script}:2: note: port pnic7 gets the made-up MAC 02-00-00-00-00-07"));
        Assert.That(err, Does.Contain($"{script}: note: skipped 1 command that is not a Net-Virtualization cmdlet: Write-Host (line 4)"));
        Assert.That(Nvdp("validate", "--config", config).Code, Is.Zero);
    }

    [Test]
    public void A_script_saved_as_utf16_imports_as_utf8_would_and_one_in_windows_1252_is_refused_with_where()
    {
        using var temp = new TempDir();
        string unicode = Path.Combine(temp.Path, "hv2.ps1");
        File.WriteAllBytes(unicode, [.. System.Text.Encoding.Unicode.Preamble, .. System.Text.Encoding.Unicode.GetBytes(ImportPsScripts.Host2)]);
        var (code, output, err) = Nvdp("import-ps", unicode);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Is.EqualTo(ImportPsScripts.Host2Config));

        // "# Caf\xE9" in Windows-1252: read as text it became "Caf\uFFFD" without a word.
        string ansi = Path.Combine(temp.Path, "ansi.ps1");
        File.WriteAllBytes(ansi, [.. "# Caf"u8, 0xE9, .. "\n"u8, .. System.Text.Encoding.UTF8.GetBytes(ImportPsScripts.Host2)]);
        (code, output, err) = Nvdp("import-ps", ansi);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(output, Is.Empty);
        Assert.That(err, Is.EqualTo($"nvdp: \"{ansi}\" is not UTF-8 text: byte 0xE9 at line 1, byte 6; save it as UTF-8\n"));
    }

    [Test]
    public void A_script_with_problems_prints_what_it_could_import_reports_each_problem_by_file_and_line_and_exits_2()
    {
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "hv1.ps1");
        File.WriteAllText(script, ImportPsScripts.Host1);

        var (code, output, err) = Nvdp("import-ps", script);

        Assert.That(code, Is.EqualTo(2));
        Assert.That(output, Is.EqualTo(ImportPsScripts.Host1Config));
        foreach (string problem in ImportPsScripts.Host1Problems)
        {
            Assert.That(err, Does.Contain($"{script}:{problem}\n"));
        }

        Assert.That(err, Does.Contain($"{script}:7: note: Get-NetVirtualizationLookupRecord reads the policy; nothing to import"));
        Assert.That(err, Does.Contain($"{script}: note: skipped 6 commands that are not Net-Virtualization cmdlets: Get-NetAdapter (line 10), Enable-NetAdapterBinding (line 11), Write-Host (line 12, 2 times), Set-VMNetworkAdapter (line 38, 2 times)"));
        Assert.That(err, Does.EndWith($"{script}: imported 1 provider address, 1 provider route, 2 lookup records, 1 customer route and 2 ports; 5 problems, see above\n"));
    }

    [Test]
    public void Format_json_prints_one_object_with_the_problems_the_notes_and_the_configuration()
    {
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "hv1.ps1");
        string config = Path.Combine(temp.Path, "out.json");
        File.WriteAllText(script, ImportPsScripts.Host1);

        var (code, output, _) = Nvdp("import-ps", script, "--out", config, "--format", "json");

        Assert.That(code, Is.EqualTo(2));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("complete").GetBoolean(), Is.False);
        Assert.That(root.GetProperty("out").GetString(), Is.EqualTo(config));
        Assert.That(root.GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("line").GetInt32()), Is.EqualTo(new[] { 33, 33, 34, 34, 36 }));
        Assert.That(root.GetProperty("notes").GetArrayLength(), Is.EqualTo(4));
        Assert.That(root.GetProperty("skipped").EnumerateArray().Select(s => (s.GetProperty("command").GetString(), s.GetProperty("count").GetInt32())),
            Is.EqualTo(new[] { ("Get-NetAdapter", 1), ("Enable-NetAdapterBinding", 1), ("Write-Host", 2), ("Set-VMNetworkAdapter", 2) }));
        Assert.That(root.GetProperty("imported").GetProperty("lookupRecords").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("config").GetProperty("ports")[1].GetProperty("name").GetString(), Is.EqualTo("Red-VM1"));
        Assert.That(File.ReadAllText(config), Is.EqualTo(ImportPsScripts.Host1Config), "what could be imported is written all the same");
    }

    [Test]
    public void Strings_nested_thousands_deep_are_one_problem_and_exit_2_not_a_stack_overflow()
    {
        // The tokenizer's strings and $( ) recursed into each other without a limit: 30,000 levels
        // (a 150 KB script) overflowed the stack and ended the process (exit 134).
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "hv1.ps1");
        File.WriteAllText(script, "New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24 -MACAddress 02-00-00-00-01-0A\n"
            + "New-NetVirtualizationLookupRecord -CustomerAddress 10.1.1.7 -VirtualSubnetID 5001 -MACAddress 00155D000001 -ProviderAddress 192.168.1.99 -Rule TranslationMethodEncap -VMName "
            + string.Concat(Enumerable.Repeat("\"$(", 30_000)) + string.Concat(Enumerable.Repeat(")\"", 30_000)) + "\n");

        var (code, output, err) = Nvdp("import-ps", script);

        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Is.EqualTo(
            $"{script}:2: strings nested more than 200 deep here (\"$(\"$(...)\")\"); the rest of the script is not read\n"
            + $"{script}:2: New-NetVirtualizationLookupRecord not imported: -VMName \"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(\"$(... is an expression, and the script is read, not run; write the value itself\n"
            + $"{script}: imported 1 provider address, 0 provider routes, 0 lookup records, 0 customer routes and 1 port; 2 problems, see above\n"));
        Assert.That(output, Does.Contain("\"192.168.1.10\""), "what comes before is imported");
    }

    [Test]
    public void A_missing_script_is_a_usage_error()
    {
        var (code, output, err) = Nvdp("import-ps", "/nonexistent/hv1.ps1");

        Assert.That(code, Is.EqualTo(2));
        Assert.That(output, Is.Empty);
        Assert.That(err, Is.EqualTo("nvdp: /nonexistent/hv1.ps1: no such file\n"));
    }
}
