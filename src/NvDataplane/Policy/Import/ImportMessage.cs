namespace NvDataplane.Policy.Import;

/// <summary>Something said about one line of a script; line 0 is the script as a whole.</summary>
public sealed record ImportMessage(int Line, string Message)
{
    public override string ToString() => Line > 0 ? $"{Line}: {Message}" : Message;
}
